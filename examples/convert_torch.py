"""Convert a PyTorch CNN trained on the bundled digits, simulate it, look at the result.

    python examples/convert_torch.py
"""

import ann2snn
from ann2snn.data import calibration_data, load_dataset
from ann2snn.demo import train_digits_cnn

train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
model = train_digits_cnn(train.x, train.y, epochs=20)

snn = ann2snn.convert(model, calibration_data("digits", n=500), percentile=99.9)
for row in snn.summary():
    print(row["name"], row["type"], row["shape"], row["neurons"], row["scale"])

result = snn.simulate(test, timesteps=32)
print("ANN", result.ann_accuracy, "SNN at T=32", result.snn_accuracy)
for t, acc in result.table():
    print(f"t={t:3d}  {acc:.3f}")
result.save("runs/example")      # metrics.json, plots, report.html
snn.save("runs/example/net.snn")
