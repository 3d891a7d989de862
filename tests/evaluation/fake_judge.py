"""A tiny local OpenAI-compatible chat-completions server standing in for the LLM judge.

It answers VLMEvalKit's liveness check ("hello") with "Hello!", and a MathVision answer-extraction
prompt (`vlmeval.dataset.utils.mathv.build_mathv_gpt4_prompt`, which ends with
"Model respone: <prediction>Extracted answer:") with the last integer of the model's response, else
"Failed". MathVerse's extraction prompt ("Model response: '<prediction>'\nExtracted Answer:") gets the
last integer or a lone option letter, its scoring prompt ("[Standard Answer]: ... [Model_answer] : ...
Judgement:") 1 when the two are equal else 0, and LogicVista's letter prompt ("Answer: <start>\n<prediction>
\n<end>\nYour output:") the option letters the response names, else Z. Every request is recorded, so a
test can tell the judge was really asked.

    with FakeJudge() as judge:
        os.environ["OPENAI_API_BASE"] = judge.url
        ...
        judge.requests  # [{"headers": {...}, "body": {...}, "answer": "..."}, ...]

Run it alone with `python tests/evaluation/fake_judge.py [port]`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESPONSE_MARK = "Model respone: "  # sic: VLMEvalKit's spelling
ANSWER_MARK = "Extracted answer:"
INTEGER = re.compile(r"-?\d+")


def last_integer(text: str) -> str | None:
    found = INTEGER.findall(str(text))
    return found[-1] if found else None


MATHVERSE_RESPONSE, MATHVERSE_END = "Model response: '", "'\nExtracted Answer:"
MATHVERSE_SCORE = re.compile(r"\[Standard Answer\]: (.*)\n\s*\[Model_answer\] : (.*)\n\s*Judgement:\s*$")
LOGICVISTA_RESPONSE, LOGICVISTA_END = "Answer: <start>\n", "\n<end>\nYour output:"
LETTER = re.compile(r"\b([A-E])\b")


def last_block(prompt: str, start: str, end: str) -> str | None:
    """The text between the last `start` and a final `end` (the prompts' in-context examples come first)."""
    if start not in prompt or not prompt.rstrip().endswith(end.rstrip()):
        return None
    return prompt.rsplit(start, 1)[1].rstrip()[: -len(end.rstrip())]


def judge_answer(prompt: str) -> str:
    """What the fake judge replies to one user prompt."""
    if RESPONSE_MARK in prompt and prompt.rstrip().endswith(ANSWER_MARK):
        response = prompt.rsplit(RESPONSE_MARK, 1)[1].rstrip()[: -len(ANSWER_MARK)]
        return last_integer(response) or "Failed"
    if (response := last_block(prompt, MATHVERSE_RESPONSE, MATHVERSE_END)) is not None:
        letters = LETTER.findall(response)
        return last_integer(response) or (letters[-1] if len(letters) == 1 else "null")
    if found := MATHVERSE_SCORE.search(prompt):
        return "1" if found.group(1).strip() == found.group(2).strip() else "0"
    if (response := last_block(prompt, LOGICVISTA_RESPONSE, LOGICVISTA_END)) is not None:
        return "".join(sorted(set(LETTER.findall(response)))) or "Z"
    if prompt.strip().lower() == "hello":
        return "Hello!"
    return "Failed"


def prompt_text(body: dict) -> str:
    """The last user message's text (a string, or a list of text parts)."""
    content = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"]
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return str(content)


class FakeJudge:
    """The server on 127.0.0.1, an ephemeral port unless given, serving from a daemon thread."""

    def __init__(self, port: int = 0):
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    answer = judge_answer(prompt_text(body))
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    self.send_error(400, "not a chat completion request")
                    return
                with judge._lock:
                    judge.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "answer": answer}
                    )
                reply = {
                    "id": f"chatcmpl-fake-{len(judge.requests)}",
                    "object": "chat.completion",
                    "model": body.get("model", "fake"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-judge", daemon=True)

    def start(self) -> FakeJudge:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeJudge:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def judged(self) -> list[dict]:
        """The requests that were answer extractions (not liveness checks)."""
        with self._lock:
            return [r for r in self.requests if prompt_text(r["body"]).strip().lower() != "hello"]


if __name__ == "__main__":
    server = FakeJudge(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
    print(f"fake judge at {server.url}", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
