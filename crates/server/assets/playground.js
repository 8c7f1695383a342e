// The Playground's chat: posts the conversation to /o/{org}/playground/chat, reads the answer's
// server-sent events as they arrive, then shows the answer's tokens and cost from its usage
// record. The credential the chat runs under stays on the server (docs/decisions/0019).
(function () {
  "use strict";

  var root = document.getElementById("playground");
  var form = document.getElementById("chat-form");
  if (!root || !form) return;
  var org = root.getAttribute("data-org");
  var csrf = root.getAttribute("data-csrf");
  var log = document.getElementById("chat-log");
  var input = document.getElementById("chat-input");
  var send = document.getElementById("chat-send");
  var errorBox = document.getElementById("chat-error");
  var errorText = document.getElementById("chat-error-text");
  var project = document.getElementById("pg-project");
  var model = document.getElementById("pg-model");
  var maxTokens = document.getElementById("pg-max-tokens");
  var priceText = document.getElementById("pg-price-text");
  var messages = [];

  // Another project may call other models: ask the server for its page.
  project.addEventListener("change", function () {
    document.getElementById("playground-settings").submit();
  });
  model.addEventListener("change", function () {
    var opt = model.options[model.selectedIndex];
    priceText.textContent = opt ? opt.getAttribute("data-prices") : "";
  });
  document.getElementById("chat-clear").addEventListener("click", function () {
    messages = [];
    log.textContent = "";
    hideError();
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function bubble(role, label, text) {
    var item = document.createElement("div");
    item.className = "chat-msg chat-" + role;
    var who = document.createElement("div");
    who.className = "chat-role";
    who.textContent = label;
    var body = document.createElement("div");
    body.className = "chat-text";
    body.textContent = text;
    item.appendChild(who);
    item.appendChild(body);
    log.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function showError(text) {
    errorText.textContent = text;
    errorBox.hidden = false;
  }

  function hideError() {
    errorBox.hidden = true;
    errorText.textContent = "";
  }

  // The refusal in words: OpenAI's error body names what happened and what to do (402: add
  // credit; 429: which limit, and when to try again).
  function explain(status, body) {
    return body && body.error && body.error.message
      ? body.error.message
      : "The request failed (HTTP " + status + ").";
  }

  // A message the model never got goes back to the box, to send again later.
  function refused(asked, text, why) {
    messages.pop();
    log.removeChild(asked);
    input.value = text;
    showError(why);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { window.setTimeout(resolve, ms); });
  }

  // Tokens and cost as metered: the usage record, once the batched writer has stored it.
  async function showUsage(meta, requestId, streamed) {
    if (streamed) {
      meta.textContent = streamed.prompt_tokens + " input tokens · " +
        streamed.completion_tokens + " output tokens · cost being recorded…";
    }
    for (var i = 0; i < 40; i++) {
      var res = await fetch("/o/" + encodeURIComponent(org) + "/playground/requests/" +
        encodeURIComponent(requestId), { credentials: "same-origin" });
      if (res.ok) {
        var r = await res.json();
        meta.textContent = r.input_tokens + " input tokens · " + r.output_tokens +
          " output tokens · " + r.cost + (r.plan === "subscription" ? " (subscription)" : "") +
          (r.estimated ? " (estimated)" : "");
        meta.setAttribute("data-recorded", "true");
        return;
      }
      if (res.status !== 404) break;
      await sleep(250);
    }
    meta.textContent += " Not recorded yet: see the Usage page.";
  }

  async function readStream(res, textEl) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var out = { text: "", usage: null, error: null };
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var events = buffer.split("\n\n");
      buffer = events.pop();
      events.forEach(function (event) {
        event.split("\n").forEach(function (line) {
          if (line.indexOf("data:") !== 0) return;
          var data = line.slice(5).trim();
          if (data === "[DONE]") return;
          var value;
          try { value = JSON.parse(data); } catch (e) { return; }
          if (value.error) { out.error = value.error.message || "The answer was cut short."; return; }
          var choice = value.choices && value.choices[0];
          if (choice && choice.delta && typeof choice.delta.content === "string") {
            out.text += choice.delta.content;
            textEl.textContent = out.text;
          }
          if (value.usage) out.usage = value.usage;
        });
      });
    }
    return out;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || send.disabled) return;
    var max = maxTokens.value.trim();
    if (max && !/^[0-9]{1,6}$/.test(max)) {
      showError("Maximum answer tokens must be a whole number.");
      maxTokens.focus();
      return;
    }
    hideError();
    messages.push({ role: "user", content: text });
    var asked = bubble("user", "You", text);
    input.value = "";
    send.disabled = true;
    var modelName = model.options[model.selectedIndex].text;
    var answer = null;
    try {
      var res = await fetch("/o/" + encodeURIComponent(org) + "/playground/chat", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({
          project: project.value,
          model: model.value,
          messages: messages,
          max_tokens: max ? Number(max) : null
        })
      });
      var requestId = res.headers.get("x-request-id");
      var type = res.headers.get("content-type") || "";
      if (res.ok && type.indexOf("text/event-stream") !== 0) {
        // Sent to the log-in page: the session ended.
        refused(asked, text, "You are signed out. Reload the page to sign in again.");
        return;
      }
      if (res.status === 413) {
        refused(asked, text, "This conversation is too long for the Playground: start a new chat.");
        return;
      }
      if (!res.ok) {
        var body = null;
        try { body = await res.json(); } catch (e) { body = null; }
        refused(asked, text, explain(res.status, body));
        return;
      }
      answer = bubble("assistant", modelName, "");
      var textEl = answer.querySelector(".chat-text");
      var meta = document.createElement("div");
      meta.className = "chat-meta";
      answer.appendChild(meta);
      var got = await readStream(res, textEl);
      messages.push({ role: "assistant", content: got.text });
      if (got.error) showError(got.error);
      if (requestId) await showUsage(meta, requestId, got.usage);
    } catch (e) {
      showError("The connection to the server failed: " + e.message);
    } finally {
      send.disabled = false;
    }
  });
})();
