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

// Stale observations: labdocs/docsite/hooks/observed.py gives each status badge and chart the time it was
// observed and the data's threshold; whether that is stale depends on the reader's clock, so it is
// decided here, on every page view (material's document$ also fires on instant navigation).
function labdocsMarkStale() {
  var now = Date.now();
  document.querySelectorAll("img[data-observed]").forEach(function (img) {
    var observed = img.getAttribute("data-observed");
    var hours = parseFloat(img.getAttribute("data-stale-after-hours"));
    var stale = now - Date.parse(observed) > hours * 3600 * 1000;
    var next = img.nextElementSibling;
    var note = next && next.classList.contains("labdocs-stale") ? next : null;
    if (stale && !note) {
      note = document.createElement("span");
      note.className = "labdocs-stale";
      note.title = "observed " + observed + ", more than " + hours + " hours ago";
      note.textContent = "stale";
      img.insertAdjacentElement("afterend", note);
    } else if (!stale && note) {
      note.remove();
    }
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(labdocsMarkStale);
} else {
  document.addEventListener("DOMContentLoaded", labdocsMarkStale);
}
