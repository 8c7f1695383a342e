"""The official `openai` Python SDK, unmodified, against a running `tollgate serve`.

Run by crates/tollgate/tests/openai_sdk.rs with TOLLGATE_BASE_URL (the server), TOLLGATE_KEY (a
key of an organization with credit), TOLLGATE_POOR_KEY (a key of one without) and
TOLLGATE_LIMITED_KEY (a key of an organization an operator limited to 60 requests a minute).
Exits non-zero on the first failed check.
"""

import os
import time

import openai
from openai import OpenAI

BASE_URL = os.environ["TOLLGATE_BASE_URL"] + "/v1"
MODEL = "llama-3.1-8b-instruct"
HELLO = [{"role": "user", "content": "Say hello to the gateway"}]


def client(key):
    return OpenAI(base_url=BASE_URL, api_key=key, max_retries=0)


def expect_error(cls, call, status):
    try:
        call()
    except cls as e:
        assert type(e) is cls, f"expected exactly {cls.__name__}, got {type(e).__name__}: {e}"
        assert e.status_code == status, (e.status_code, e)
        return e
    raise AssertionError(f"expected {cls.__name__}")


def main():
    sdk = client(os.environ["TOLLGATE_KEY"])

    ids = [m.id for m in sdk.models.list()]
    assert MODEL in ids, ids

    chat = sdk.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, seed=7)
    assert chat.model == MODEL, chat
    assert len(chat.choices[0].message.content.split()) == 8, chat
    assert chat.usage.completion_tokens == 8, chat.usage
    assert chat._request_id and chat._request_id.startswith("req_"), chat._request_id

    text, usage = "", None
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_completion_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert usage is not None and usage.completion_tokens == 12, usage
    assert len(text.split()) == 12, text

    completion = sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=4)
    assert len(completion.choices[0].text.split()) == 4, completion

    expect_error(openai.AuthenticationError, lambda: client("tg-not-a-key").models.list(), 401)
    e = expect_error(
        openai.NotFoundError,
        lambda: sdk.chat.completions.create(model="no-such-model", messages=HELLO),
        404,
    )
    assert e.code == "model_not_found", e.code
    expect_error(
        openai.BadRequestError,
        lambda: sdk.chat.completions.create(model=MODEL, messages=[]),
        400,
    )
    # 402 has no class of its own in the SDK: it raises the base status error.
    e = expect_error(
        openai.APIStatusError,
        lambda: client(os.environ["TOLLGATE_POOR_KEY"]).chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=8
        ),
        402,
    )
    assert e.code == "insufficient_quota", e.code
    check_retry_after()
    print("openai SDK: all checks passed")


def check_retry_after():
    """A 429 carries Retry-After; the SDK (with retries on, its default) waits for it and
    retries, and the retry goes through once the bucket has refilled."""
    limited = client(os.environ["TOLLGATE_LIMITED_KEY"])
    call = lambda c: c.chat.completions.with_raw_response.create(  # noqa: E731
        model=MODEL, messages=HELLO, max_tokens=1
    )
    # The operator's override reaches the running server within a second.
    deadline = time.monotonic() + 5
    while call(limited).headers.get("x-ratelimit-limit-requests") != "60":
        assert time.monotonic() < deadline, "the override of 60 RPM was not in force"
        time.sleep(0.05)
    # Spend the bucket (60 at most, plus what refills meanwhile) until a 429.
    for _ in range(200):
        try:
            call(limited)
        except openai.RateLimitError as e:
            assert e.status_code == 429 and e.code == "rate_limit_exceeded", e
            retry_after = float(e.response.headers["retry-after"])
            assert 0 < retry_after <= 2, retry_after
            break
    else:
        raise AssertionError("no 429 within 200 requests at 60 RPM")
    # The same request with the SDK's retries on: refused first, then admitted after waiting
    # what `retry-after-ms` / `Retry-After` said.
    raw = call(OpenAI(base_url=BASE_URL, api_key=os.environ["TOLLGATE_LIMITED_KEY"], max_retries=3))
    assert raw.retries_taken >= 1, raw.retries_taken
    assert raw.parse().choices, raw


if __name__ == "__main__":
    main()
