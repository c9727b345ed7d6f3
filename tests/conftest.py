"""Shared fixtures: a tiny random BERT saved to disk, and GLUE-shaped little TSV folders."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TINY_SEED = 0  # the tiny model's weights
SHARED_GLUE = Path(os.environ.get("GLUE_LIT_REAL_DATA", REPO.parent / "shared" / "glue_data"))

WORDS = (
    "the a cat dog sat ran on mat big small red blue house tree quickly slowly it is was not "
    "man woman child plays reads writes sees good bad happy sad yes no question answer"
).split()


def make_tiny_bert(path: Path) -> Path:
    """A 2-layer, 32-wide random BERT with a real WordPiece fast tokenizer, saved to ``path``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz.,?'"]
    vocab_map = {w: i for i, w in enumerate(dict.fromkeys(vocab))}
    tok = Tokenizer(models.WordPiece(vocab_map, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab_map["[CLS]"], vocab_map["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    config = BertConfig(
        vocab_size=len(vocab_map), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    # The same weights in every run, whichever test asks first: torch seeds its global generator at
    # random in each process, and earlier tests reseed it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


def _sentence(rng: random.Random, n: int | None = None) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n or rng.randint(3, 12)))


def write_glue_folder(root: Path, n_train: int = 160, n_dev: int = 40, n_test: int = 20) -> Path:
    """GLUE-layout TSVs for every task, in the original column layout, with learnable labels.

    The label depends on whether "not" occurs, so a model can learn it in a few steps.
    """
    rng = random.Random(0)

    def w(path: Path, header: list[str] | None, rows: list[list[str]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = (["\t".join(header)] if header else []) + ["\t".join(map(str, r)) for r in rows]
        prefix = "\ufeff" if path.parent.name == "MRPC" and header else ""
        path.write_text(prefix + "\n".join(lines) + "\n", encoding="utf-8")

    def labelled(n: int):
        for _ in range(n):
            s1, s2 = _sentence(rng), _sentence(rng)
            yield s1, s2, int(" not " in f" {s1} {s2} ")

    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = list(labelled(n))
        w(root / "CoLA" / f"{split}.tsv", None, [["src", y, "", a] for a, _, y in rows])
        w(root / "SST-2" / f"{split}.tsv", ["sentence", "label"], [[a, y] for a, _, y in rows])
        w(root / "MRPC" / f"{split}.tsv", ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
          [[y, i, i + 1, a, b] for i, (a, b, y) in enumerate(rows)])
        w(root / "QQP" / f"{split}.tsv",
          ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
          [[i, 2 * i, 2 * i + 1, a, b, y] for i, (a, b, y) in enumerate(rows)])
        w(root / "STS-B" / f"{split}.tsv",
          ["index", "genre", "filename", "year", "old_index", "source1", "source2",
           "sentence1", "sentence2", "score"],
          [[i, "g", "f", "2012", i, "none", "none", a, b, f"{5 * y:.3f}"]
           for i, (a, b, y) in enumerate(rows)])
        for task, names in (("QNLI", ("question", "sentence")), ("RTE", ("sentence1", "sentence2")),
                            ("WNLI", ("sentence1", "sentence2"))):
            if task == "WNLI":
                label = lambda y: y  # noqa: E731 - WNLI files hold 0/1 ids
            else:
                label = lambda y: ("entailment", "not_entailment")[y]  # noqa: E731
            w(root / task / f"{split}.tsv", ["index", *names, "label"],
              [[i, a, b, label(y)] for i, (a, b, y) in enumerate(rows)])
    mnli_head = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
                 "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
                 "sentence1", "sentence2"]
    nli3 = ("entailment", "neutral", "contradiction")

    def mnli_rows(n: int, n_votes: int):
        for i, (a, b, y) in enumerate(labelled(n)):
            gold = nli3[2 * y] if i % 5 else "neutral"
            yield [i, i, f"{i}e", "fiction", a, b, a, b, a, b, *([gold] * n_votes), gold]

    w(root / "MNLI" / "train.tsv", [*mnli_head, "label1", "gold_label"], list(mnli_rows(n_train, 1)))
    for name in ("dev_matched", "dev_mismatched"):
        votes = [f"label{k}" for k in range(1, 6)]
        w(root / "MNLI" / f"{name}.tsv", [*mnli_head, *votes, "gold_label"],
          list(mnli_rows(n_dev, 5)))
    test_rows = [[i, _sentence(rng), _sentence(rng)] for i in range(n_test)]
    for name in ("test_matched", "test_mismatched"):
        w(root / "MNLI" / f"{name}.tsv", mnli_head,
          [[i, i, f"{i}e", "g", a, b, a, b, a, b] for i, a, b in test_rows])
    w(root / "diagnostic" / "diagnostic.tsv", ["index", "sentence1", "sentence2"], test_rows)
    w(root / "CoLA" / "test.tsv", ["index", "sentence"], [[i, a] for i, a, _ in test_rows])
    w(root / "SST-2" / "test.tsv", ["index", "sentence"], [[i, a] for i, a, _ in test_rows])
    w(root / "MRPC" / "test.tsv", ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
      [[i, i, i, a, b] for i, a, b in test_rows])
    w(root / "QQP" / "test.tsv", ["id", "question1", "question2"], test_rows)
    w(root / "STS-B" / "test.tsv",
      ["index", "genre", "filename", "year", "old_index", "source1", "source2",
       "sentence1", "sentence2"],
      [[i, "g", "f", "2012", i, "none", "none", a, b] for i, a, b in test_rows])
    w(root / "QNLI" / "test.tsv", ["index", "question", "sentence"], test_rows)
    for task in ("RTE", "WNLI"):
        w(root / task / "test.tsv", ["index", "sentence1", "sentence2"], test_rows)
    return root


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory) -> Path:
    return write_glue_folder(tmp_path_factory.mktemp("glue_data"))


def work_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run inside ``folder`` with its own tokenization cache: logs and caches stay out of the repo."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GLUE_LIT_CACHE", str(folder / "cache"))
    return folder


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    """Run inside a fresh folder with its own tokenization cache."""
    return work_in(tmp_path, monkeypatch)


def fit_args(tiny_model: str, glue_dir: Path, task: str = "cola", *extra: str) -> list[str]:
    """CLI arguments of a quick CPU fit of the tiny model on the little GLUE folder."""
    return [
        "--data.task_name", task, "--data.data_dir", str(glue_dir),
        "--model.model_name_or_path", tiny_model, "--model.learning_rate", "1e-3",
        "--data.batch_size", "8", "--trainer.max_epochs", "2",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        # fp32 as the tests were written for; the CPU default is tested in test_precision.py.
        "--trainer.accelerator", "cpu", "--trainer.precision", "32-true", *extra,
    ]


def tb_scalars(run: Path) -> dict[str, list[float]]:
    """Every scalar a run logged to TensorBoard, by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run))
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(autouse=True)
def cpu_without_bf16(monkeypatch):
    """Tests run as on a CPU without bf16 matrix instructions: the CPU default precision is fp32 on
    every machine, not what a timing on a loaded machine says. test_precision.py sets its own."""
    import glue_lit.precision

    monkeypatch.setattr(glue_lit.precision, "cpu_flags", lambda: frozenset())
