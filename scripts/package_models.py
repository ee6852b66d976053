"""Copy the shipped models a wheel carries into captcha_keras/packaged_models/, with their SHA-256s.

For maintainers, after retraining or re-exporting a shipped model: each packaged
model takes config.json, metrics.json and model.onnx from saved_models/ (and
base_alnum its best.keras); the code is `captcha_keras/export/packaged.py`.
"""

import sys

from captcha_keras.export.packaged import package_models

if __name__ == "__main__":
    for name, files in package_models().items():
        print(f"{name}: {', '.join(sorted(files))}")
    sys.exit(0)
