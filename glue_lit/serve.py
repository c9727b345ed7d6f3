"""``python -m glue_lit serve --model PATH``: a fine-tuned model behind HTTP, through LitServe.

``POST /predict`` takes ``{"text": ...}`` (pair tasks: ``{"text": ..., "text_pair": ...}``) or a list
of them, and answers with the label name, its probability and every label's (STS-B: the score),
one object per text or a list in the request's order. Requests that arrive within
``--batch_timeout`` of each other run as one batch (up to ``--max_batch_size`` requests). Texts are
truncated to the training ``max_length``. ``GET /health`` says ``ok`` once the model is loaded.

A bad request is answered 400 (413: too many texts) with ``{"error": "..."}`` before it reaches the
model, so it never fails the batch it would have joined.
"""

# No `from __future__ import annotations`: LitServe hands decode_request's annotation to FastAPI
# as the body type, and a string there is not resolved (every request then fails "Field required").
import argparse
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import RootModel, model_validator

from glue_lit.errors import GlueLitError

try:
    import litserve as ls
except ImportError:
    raise GlueLitError("serve needs LitServe and onnxruntime: pip install 'glue_lit[serve]'") from None

CHUNK = 64  # texts per model call: bounds the memory of a batch of long lists


class TooManyTexts(ValueError):
    """A request with more texts than ``--max_items``."""


@dataclass(frozen=True)
class RequestRules:
    """What a request to this server must hold."""

    task: str = ""
    pair: bool = False
    max_items: int = 64

    def problem(self, body: Any) -> str | None:
        """Why ``body`` (parsed JSON) is not a valid request, in one line; ``None`` if it is."""
        shape = ('{"text": ..., "text_pair": ...}' if self.pair else '{"text": ...}')
        if isinstance(body, dict):
            return self._item_problem(body, "")
        if isinstance(body, (str, bytes)):  # FastAPI passes the raw body when it is not sent as JSON
            return f"the body must be JSON ({shape} or a list of them), Content-Type: application/json"
        if not isinstance(body, list):
            return f"the body must be a JSON object {shape} or a list of them"
        if not body:
            return "the list of texts is empty"
        if len(body) > self.max_items:
            raise TooManyTexts(f"{len(body)} texts in one request; at most {self.max_items} (--max_items)")
        for i, item in enumerate(body):
            problem = self._item_problem(item, f"item {i}: ") if isinstance(item, dict) else (
                f"item {i}: must be a JSON object {shape}")
            if problem:
                return problem
        return None

    def _item_problem(self, item: dict, where: str) -> str | None:
        allowed = ("text", "text_pair") if self.pair else ("text",)
        if "text_pair" in item and not self.pair:
            return f"{where}'text_pair' given, but {self.task} classifies single texts; send {{'text': ...}}"
        extra = [k for k in item if k not in allowed]
        for key in allowed:
            if key not in item:
                why = f": {self.task} classifies pairs of texts" if key == "text_pair" else ""
                got = f" (got {', '.join(map(repr, extra))})" if extra else ""
                return f"{where}missing field {key!r}{why}{got}"
        if extra:
            return f"{where}unknown field {extra[0]!r}; the fields are {', '.join(allowed)}"
        for key in allowed:
            if not isinstance(item[key], str):
                return f"{where}{key!r} must be a string, not {type(item[key]).__name__}"
            if not item[key].strip():
                return f"{where}{key!r} is empty"
        return None


class ServeRequest(RootModel[Any]):
    """The body of ``POST /predict``, checked against ``rules`` by FastAPI before it is queued."""

    # Set once per server process by `build_server` (forked API servers inherit it). The checks are
    # written out rather than as pydantic fields: a text-or-list union reports its errors for both
    # shapes, and a pair sent to a single-text task is a rule of the task, not of the schema.
    rules: ClassVar[RequestRules] = RequestRules()

    @model_validator(mode="before")
    @classmethod
    def _valid(cls, body: Any) -> Any:
        problem = cls.rules.problem(body)
        if problem:
            raise ValueError(problem)
        return body


class GlueAPI(ls.LitAPI):
    """The LitServe API of one model (loaded in the worker by ``inference.load_classifier``)."""

    def __init__(self, model: str, task_name: str | None = None, threads: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.model, self.task_name, self.threads = model, task_name, threads
        self.classifier = None

    def setup(self, device) -> None:
        from glue_lit.inference import load_classifier

        self.classifier = load_classifier(self.model, self.task_name, threads=self.threads)

    def decode_request(self, request: ServeRequest) -> tuple[list[dict], bool]:
        body = request.root
        return ([body], True) if isinstance(body, dict) else (body, False)

    def predict(self, x):
        requests = x if self.max_batch_size > 1 else [x]
        items = [item for texts, _ in requests for item in texts]
        answers = []
        for start in range(0, len(items), CHUNK):
            part = items[start:start + CHUNK]
            pairs = [i["text_pair"] for i in part] if len(self.classifier.task.text_keys) > 1 else None
            answers += self.classifier.results(self.classifier.predict([i["text"] for i in part], pairs))
        out, start = [], 0
        for texts, single in requests:
            mine = answers[start:start + len(texts)]
            out.append(mine[0] if single else mine)
            start += len(texts)
        return out if self.max_batch_size > 1 else out[0]

    def encode_response(self, output):
        return output


def _bad_request(request, exc):
    """FastAPI's validation error as one line: 400, or 413 for too many texts."""
    from fastapi.responses import JSONResponse

    errors = exc.errors()
    first = errors[0] if errors else {}
    cause = (first.get("ctx") or {}).get("error")
    if first.get("type") == "json_invalid":
        message = f"the body is not valid JSON: {(first.get('ctx') or {}).get('error', 'decode error')}"
    else:
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return JSONResponse({"error": message}, status_code=413 if isinstance(cause, TooManyTexts) else 400)


def build_server(model: str, task_name: str | None = None, max_batch_size: int = 16,
                 batch_timeout: float = 0.005, max_items: int = 64, threads: int | None = None,
                 timeout: float = 30) -> ls.LitServer:
    """The LitServer of ``model`` (anything ``inference.load_classifier`` reads)."""
    from fastapi.exceptions import RequestValidationError

    from glue_lit.inference import task_of_model

    task = task_of_model(model, task_name)
    ServeRequest.rules = RequestRules(task.name, len(task.text_keys) > 1, max_items)
    api = GlueAPI(model, task.name, threads, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=timeout)
    server.app.add_exception_handler(RequestValidationError, _bad_request)
    return server


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m glue_lit serve",
        description="Serve a fine-tuned model over HTTP: POST /predict with {\"text\": ...} "
        "(pair tasks: {\"text\": ..., \"text_pair\": ...}) or a list of them; GET /health.",
    )
    parser.add_argument("--model", required=True,
                        help="checkpoint written by fit, or a folder written by export (transformers or "
                        "--format onnx)")
    parser.add_argument("--task", default=None, help="GLUE task, for folders that do not record it")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max_batch_size", type=int, default=16,
                        help="requests run together as one batch, at most")
    parser.add_argument("--batch_timeout", type=float, default=0.005,
                        help="seconds a request waits for others to join its batch")
    parser.add_argument("--max_items", type=int, default=64,
                        help="texts one request may hold; more is answered 413")
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime threads (default: every core this process may use)")
    args = parser.parse_args(argv)
    if args.max_batch_size < 1 or args.max_items < 1 or args.batch_timeout < 0:
        raise GlueLitError("--max_batch_size and --max_items must be at least 1, --batch_timeout >= 0")
    server = build_server(args.model, args.task, args.max_batch_size, args.batch_timeout, args.max_items,
                          args.threads)
    print(f"glue_lit: serving {args.model} on http://{args.host}:{args.port}/predict", flush=True)
    server.run(host=args.host, port=args.port, generate_client_file=False, num_api_servers=1)
