"""How a test's results are shown: the confusion matrix as a picture and a per-class report
(what people look at in `mlflow ui`), and the metrics as a table on the terminal."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def confusion_figure(confusion: torch.Tensor, labels: list[str], title: str = "test clips") -> plt.Figure:
    """Rows: true genre, columns: predicted; cells show counts, colour shows the row share."""
    counts = confusion.to(torch.float64)
    share = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=110)
    image = ax.imshow(share.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    accuracy = counts.diag().sum() / counts.sum().clamp_min(1)
    ax.set_title(f"Confusion matrix, {title} (accuracy {accuracy:.1%})")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                colour = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", color=colour, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true genre's clips")
    fig.tight_layout()
    return fig


def class_report(confusion: torch.Tensor, labels: list[str]) -> dict[str, dict[str, float]]:
    """Per genre: clips, precision, recall (= per-class accuracy) and F1, from the confusion matrix."""
    counts = confusion.to(torch.float64)
    report = {}
    for i, label in enumerate(labels):
        true_positive = float(counts[i, i])
        support, predicted = float(counts[i].sum()), float(counts[:, i].sum())
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"clips": int(support), "precision": precision, "recall": recall, "f1": f1}
    return report


HEADLINE = ("test_clip_acc", "test_window_acc", "test_macro_f1")


def print_results(results: dict[str, float], title: str, caption: str) -> None:
    """The headline metrics, then per-class accuracy, as a table on the terminal."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in HEADLINE:
        table.add_row(name, f"{results[name]:.4f}")
    for name, value in sorted(results.items()):
        if name.startswith("test_acc_"):
            table.add_row(name, f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(caption)
