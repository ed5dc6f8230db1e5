// Copy buttons: a block that shows a file (it has a title, like the compose file) copies as that file,
// ending with its final newline, so the copied text equals the file byte for byte. mkdocs-material trims
// every copied text (right for commands: a trailing newline would run the last command on paste), so
// the exact text is set on the button just before material's copy handler reads it.
document.addEventListener("click", function (ev) {
  var button = ev.target instanceof Element && ev.target.closest("button.md-code__button[data-md-type=copy]");
  if (!button) return;
  var block = button.closest(".highlight");
  var code = document.querySelector(button.getAttribute("data-clipboard-target"));
  if (!block || !code || !block.querySelector(":scope > .filename")) return;
  code.setAttribute("data-md-copying", "");   // what material does: hides annotation markers while copying
  var text = code.innerText;
  code.removeAttribute("data-md-copying");
  button.setAttribute("data-clipboard-text", text.replace(/\s+$/, "") + "\n");
}, true);
