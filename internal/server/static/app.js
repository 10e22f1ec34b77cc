// resguardo: the product's one first-party script. Every page works without
// it; it only adds what a server cannot know or do: the reader's time zone,
// moving focus to what went wrong, and copying text.
(function () {
  "use strict";

  // After a failed submit, focus the summary of what was wrong, so that a
  // screen reader reads it and a phone scrolls to it.
  function focusErrors() {
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
  }

  // Times are written in UTC in <time datetime>; show them in the reader's
  // zone and language, with a relative time where the page asks for one.
  function localTimes() {
    var lang = document.documentElement.lang || "en";
    var abs, rel;
    try {
      abs = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
      rel = typeof Intl.RelativeTimeFormat === "function" ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
    } catch (e) {
      return; // an old browser keeps the UTC text
    }
    var now = Date.now();
    var steps = [["second", 60], ["minute", 60], ["hour", 24], ["day", 30], ["month", 12], ["year", Infinity]];
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) {
        return;
      }
      var text = abs.format(when);
      if (rel && el.hasAttribute("data-relative")) {
        var diff = (when.getTime() - now) / 1000;
        var i = 0;
        while (i < steps.length - 1 && Math.abs(diff) >= steps[i][1]) {
          diff /= steps[i][1];
          i++;
        }
        text = rel.format(Math.round(diff), steps[i][0]) + " · " + text;
      }
      el.title = el.textContent;
      el.textContent = text;
    });
  }

  // Copy buttons copy the text of the element they name.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var src = document.getElementById(b.getAttribute("data-copy"));
        if (!src || !navigator.clipboard) {
          return;
        }
        navigator.clipboard.writeText(src.innerText.trim()).then(function () {
          b.textContent = b.getAttribute("data-done") || b.textContent;
        });
      });
    });
  }

  // Download buttons save the text of the element they name as a file.
  function downloadButtons() {
    document.querySelectorAll("button[data-download]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var src = document.getElementById(b.getAttribute("data-download"));
        if (!src) {
          return;
        }
        var url = URL.createObjectURL(new Blob([src.innerText.trim() + "\n"], { type: "text/plain" }));
        var a = document.createElement("a");
        a.href = url;
        a.download = b.getAttribute("data-filename") || "download.txt";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      });
    });
  }

  // The otpauth: link of the TOTP page, for an authenticator app on the
  // same phone; only an otpauth://totp/ address becomes a link.
  function otpauthLink() {
    var a = document.getElementById("totp-link");
    var uri = a && a.getAttribute("data-otpauth");
    if (uri && uri.indexOf("otpauth://totp/") === 0) {
      a.href = uri;
      document.getElementById("totp-link-step").hidden = false;
    }
  }

  function ready() {
    localTimes();
    copyButtons();
    downloadButtons();
    otpauthLink();
    focusErrors();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
