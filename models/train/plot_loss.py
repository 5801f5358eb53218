#!/usr/bin/python3
"""Loss curves of the trained models: plot_loss.py OUT.png NAME.loss.csv [NAME.loss.csv ...]

Train loss is the mean over the steps since the previous point; held-out loss is measured on the first 64 held-out
windows (16k tokens) every 250 steps. x axis: training tokens seen.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out, paths):
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for i, p in enumerate(paths):
        name = os.path.basename(p).replace(".loss.csv", "")
        rows = list(csv.DictReader(open(p)))
        color = "C%d" % i
        ax.plot([int(r["tokens"]) / 1e6 for r in rows], [float(r["train_loss"]) for r in rows], color=color,
                alpha=0.6, lw=1, label=name + " train")
        held = [r for r in rows if r["heldout_loss"]]
        ax.plot([int(r["tokens"]) / 1e6 for r in held], [float(r["heldout_loss"]) for r in held], color=color,
                marker="o", lw=2, label=name + " held-out")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_ylim(2.0, 6.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("KJV models: loss by tokens seen (held-out = every 20th chapter)")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
