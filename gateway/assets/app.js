// hop's only script: copy buttons. Everything else works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = button.dataset.copy;
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.className = "offscreen";
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      const [text_, label] = [button.textContent, button.getAttribute("aria-label")];
      button.textContent = "Copied";
      button.setAttribute("aria-label", "Copied");
      button.classList.add("done");
      setTimeout(() => {
        button.textContent = text_;
        button.setAttribute("aria-label", label);
        button.classList.remove("done");
      }, 1600);
    });
  }
});
