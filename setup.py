"""Package definition of kdticket_tf."""

import setuptools

setuptools.setup(
    name="kdticket_tf",
    version="0.1.0",
    description=("Lottery tickets in Keras/TensorFlow with the KD ticket, weight "
                 "rewinding, LR rewinding and the classic baselines."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["kdticket_tf", "kdticket_tf.*"]),
    python_requires=">=3.10,<3.14",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tf-keras>=2.21,<2.22",  # same minor as tensorflow; TF-MOT needs Keras 2
        "tensorflow-model-optimization>=0.8.1,<0.9",
        "tensorflow-datasets>=4.9.9,<5",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer pulls it in
        "absl-py>=1.4",
        "tensorflow-serving-api>=2.21,<2.22",  # warm-up records, client protos
        "numpy>=1.26,<3",
        "matplotlib>=3.7",  # accuracy_vs_sparsity.png
        "mnist1d>=0.0.2",  # --dataset=mnist1d, generated offline (make_dataset)
    ],
    extras_require={
        # Ray tasks as the executor of a search's stages (--executor=ray).
        "ray": ["ray>=2.40"],
        # LiteRT's interpreter for TFLite tickets (TensorFlow's otherwise).
        "lite": ["ai-edge-litert>=2.3,<3"],
        # pytest-xdist: the suite runs its test files in parallel (pytest.ini).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ray>=2.40",
                 "ai-edge-litert>=2.3,<3"],
    },
    entry_points={
        "console_scripts": ["kdticket-train=kdticket_tf.train:run"],
    },
)
