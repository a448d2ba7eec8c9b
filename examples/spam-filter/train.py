"""Spam filter: logistic regression on hashed word features, trained by SGD, in pure Python
(standard library only, so it runs in the offline-built image). Reads the corpus from
$TRACK_RUN_DATA/corpus/emails.jsonl and its settings from $TRACK_RUN_PARAMS; reports the loss per
epoch and the test accuracy, precision, recall, F1 and loss as ::track-run metric lines, and each
epoch's wall time as the train/epoch_seconds curve (JSON lines into $TRACK_RUN_CURVES); writes
the model to $TRACK_RUN_OUTPUTS/model.json. Same data, settings and seed: the same bytes (the
times differ from run to run; they are a curve, never a gated metric)."""

import json
import math
import os
import random
import re
import time
import zlib

DATA = os.path.join(os.environ.get("TRACK_RUN_DATA", "data"), "corpus", "emails.jsonl")
OUT = os.environ.get("TRACK_RUN_OUTPUTS", "outputs")
PARAMS = {"epochs": 3, "learning_rate": 0.2, "hash_bits": 18, "l2": 1e-6, "test_fraction_of_5": 1}
if os.environ.get("TRACK_RUN_PARAMS"):
    with open(os.environ["TRACK_RUN_PARAMS"]) as f:
        PARAMS.update(json.load(f))
SEED = int(os.environ.get("TRACK_RUN_SEED", "0"))
DIM = 1 << int(PARAMS["hash_bits"])
WORD = re.compile(r"[a-z0-9$!']{2,24}")


def metric(name, value, step=None, stage=None):
    extra = (f" step={step}" if step is not None else "") + (f" stage={stage}" if stage else "")
    print(f"::track-run metric name={name} value={value:.6f}{extra}", flush=True)


def curve(step, stage, **values):
    """One step of per-step curves, as a JSON line into $TRACK_RUN_CURVES (when the run gives one)."""
    path = os.environ.get("TRACK_RUN_CURVES")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"step": step, "stage": stage, **values}) + "\n")


def features(text):
    """Hashed word presence (crc32: the same on every machine) of the subject and the body."""
    head, _, body = text.partition("\n\n")
    subject = "".join(l for l in head.split("\n") if l.lower().startswith("subject:"))
    words = set(WORD.findall((subject + " " + body).lower()))
    idx = sorted({zlib.crc32(w.encode()) % DIM for w in words})
    scale = 1.0 / math.sqrt(len(idx) or 1)
    return idx, scale


def in_test(email_id):
    """A fixed split: about one email in five, by the crc32 of its id."""
    return zlib.crc32(email_id.encode()) % 5 < int(PARAMS["test_fraction_of_5"])


def predict(w, b, x):
    idx, scale = x
    z = b + scale * sum(w[i] for i in idx)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def log_loss(p, y):
    p = min(max(p, 1e-12), 1 - 1e-12)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def main():
    train, test = [], []
    with open(DATA) as f:
        for line in f:
            e = json.loads(line)
            (test if in_test(e["id"]) else train).append((features(e["text"]), e["spam"]))
    print(f"train {len(train)} emails, test {len(test)}, {DIM} features, seed {SEED}", flush=True)
    rng = random.Random(SEED)
    w = [0.0] * DIM
    b = 0.0
    lr, l2 = float(PARAMS["learning_rate"]), float(PARAMS["l2"])
    for epoch in range(1, int(PARAMS["epochs"]) + 1):
        started = time.perf_counter()
        rng.shuffle(train)
        total = 0.0
        for x, y in train:
            p = predict(w, b, x)
            total += log_loss(p, y)
            g = (p - y) * lr
            idx, scale = x
            for i in idx:
                w[i] -= g * scale + lr * l2 * w[i]
            b -= g
        metric("loss", total / len(train), step=epoch, stage="train")
        curve(epoch, "train", epoch_seconds=round(time.perf_counter() - started, 6))
    tp = fp = fn = tn = 0
    loss = 0.0
    for x, y in test:
        p = predict(w, b, x)
        loss += log_loss(p, y)
        guess = 1 if p >= 0.5 else 0
        tp += guess and y
        fp += guess and not y
        fn += (not guess) and y
        tn += (not guess) and (not y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metric("accuracy", (tp + tn) / len(test), stage="test")
    metric("precision", precision, stage="test")
    metric("recall", recall, stage="test")
    metric("f1", f1, stage="test")
    metric("loss", loss / len(test), stage="test")
    os.makedirs(OUT, exist_ok=True)
    model = {"bias": round(b, 12), "dim": DIM, "weights": {str(i): round(v, 12) for i, v in enumerate(w) if v}}
    with open(os.path.join(OUT, "model.json"), "w") as f:
        json.dump(model, f, sort_keys=True, separators=(",", ":"))


if __name__ == "__main__":
    main()
