"""Helper of snntoolbox_compare.py that runs INSIDE the snntoolbox virtual environment.

It needs tensorflow 2.15 and snntoolbox 0.6.0 (not ann2snn). Two commands:

  train  --arch NAME --train NPZ --out-dir DIR [--epochs E] [--seed S]
         builds one of the small tf.keras models below, trains it on MNIST and saves
         DIR/<model>.h5 (one arch may save two models that share weights: a ReLU-output
         and a softmax-output version). Prints the saved names and test accuracies as JSON.
  run    --config INI --out NPZ --log-dir DIR
         runs snntoolbox's own pipeline (snntoolbox.bin.utils.update_setup + run_pipeline,
         what `snntoolbox -t INI` does) with INIsim, and saves per-sample output spike
         counts (the cumulative counts INIsim's SNN.simulate returns at the last step),
         labels, the Keras model's predictions and wall-clock timestamps (start and end of
         each batch's SNN.simulate call, seconds after the pipeline started) to NPZ.

Run by snntoolbox_compare.py; not imported by ann2snn.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import numpy as np


def build(arch: str):
    """(model, {saved name: final activation}) for one architecture."""
    from tensorflow import keras
    from tensorflow.keras import layers as L

    inp = keras.Input((28, 28, 1))
    if arch == "mlp":
        x = L.Flatten()(inp)
        x = L.Dense(256, activation="relu")(x)
        x = L.Dropout(0.1)(x)
        out = L.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out), {"mlp_relu": "relu", "mlp_softmax": "softmax"}
    if arch == "cnn_bn_avg":
        x = L.Conv2D(16, 5, use_bias=False)(inp)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.AveragePooling2D()(x)
        x = L.Conv2D(32, 3, use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.AveragePooling2D()(x)
        x = L.Flatten()(x)
        out = L.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out), {"cnn_bn_avg_relu": "relu"}
    if arch == "cnn_max":
        x = L.Conv2D(16, 5, activation="relu")(inp)
        x = L.MaxPooling2D()(x)
        x = L.Conv2D(32, 3, activation="relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Flatten()(x)
        x = L.Dense(64, activation="relu")(x)
        out = L.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out), {"cnn_max_relu": "relu", "cnn_max_softmax": "softmax"}
    if arch == "lenet_bn_max":  # the LeNet of snntoolbox's examples: BN, max pooling
        x = inp
        for filters, pad in ((6, "same"), (16, "valid")):
            x = L.Conv2D(filters, 5, padding=pad, use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.Activation("relu")(x)
            x = L.MaxPooling2D()(x)
        x = L.Flatten()(x)
        x = L.Dense(120, activation="relu")(x)
        x = L.Dense(84, activation="relu")(x)
        out = L.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out), {"lenet_bn_max_relu": "relu"}
    raise SystemExit(f"unknown arch {arch}")


def train(args) -> None:
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(args.seed)
    d = np.load(args.train)
    x, y = d["x_train"], d["y_train"]
    xt, yt = d["x_test"], d["y_test"]
    model, outputs = build(args.arch)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=128, epochs=args.epochs, verbose=0)
    report = {}
    for name, act in outputs.items():
        model.layers[-1].activation = keras.activations.get(act)
        path = os.path.join(args.out_dir, name + ".h5")
        keras.models.save_model(model, path)
        again = keras.models.load_model(path)
        pred = again.predict(xt, batch_size=1000, verbose=0).argmax(1)
        report[name] = {"path": path, "test_accuracy": float((pred == yt.argmax(1)).mean())}
    print(json.dumps(report))


def run(args) -> None:
    from snntoolbox.bin import utils
    from snntoolbox.simulation.target_simulators import INI_temporal_mean_rate_target_sim as ini

    config = utils.update_setup(args.config)
    if os.path.isdir(args.log_dir):  # snntoolbox reuses cached activations found there
        shutil.rmtree(args.log_dir)
    os.makedirs(args.log_dir)
    config.set("paths", "log_dir_of_current_run", args.log_dir)

    rec: dict[str, list] = {"counts": [], "truth": [], "t": [], "t_start": []}
    original = ini.SNN.simulate

    def simulate(self, **kwargs):
        rec["t_start"].append(time.perf_counter())
        out = original(self, **kwargs)  # (batch, classes, steps): cumulative spike counts
        rec["counts"].append(np.asarray(out[:, :, -1]))
        rec["truth"].append(np.asarray(kwargs["truth_b"]))
        rec["t"].append(time.perf_counter())
        return out

    ini.SNN.simulate = simulate
    t0 = time.perf_counter()
    results = utils.run_pipeline(config)
    t1 = time.perf_counter()

    # the Keras model's own predictions on the same test samples
    from tensorflow import keras

    path = os.path.join(config.get("paths", "path_wd"), config.get("paths", "filename_ann"))
    model = keras.models.load_model(path + ".h5")
    x = np.load(os.path.join(config.get("paths", "dataset_path"), "x_test.npz"))["arr_0"]
    n = sum(len(c) for c in rec["truth"])
    ann = model.predict(x[:n], batch_size=1000, verbose=0).argmax(1)
    np.savez(args.out, counts=np.concatenate(rec["counts"]), truth=np.concatenate(rec["truth"]),
             batch_end=np.array(rec["t"]) - t0, batch_start=np.array(rec["t_start"]) - t0,
             total=t1 - t0,
             accuracy=float(results[0]) if results else np.nan, ann_prediction=ann)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--arch", required=True)
    t.add_argument("--train", required=True)
    t.add_argument("--out-dir", required=True)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--config", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--log-dir", required=True)
    args = p.parse_args()
    run(args) if args.cmd == "run" else train(args)


if __name__ == "__main__":
    main()
