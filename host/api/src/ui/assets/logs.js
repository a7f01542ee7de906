// The live log view: follows /ui/logs/stream with the page's filters and appends each line,
// keeping the newest MAX_LINES. The stream closes when htmx swaps in another page.
(() => {
  const MAX_LINES = 1000;
  const log = document.getElementById("log");
  const params = new URLSearchParams(log.dataset.query);
  params.set("follow", "true");
  const source = new EventSource("/ui/logs/stream?" + params);
  const append = (text, className) => {
    const row = document.createElement("div");
    row.className = className;
    row.textContent = text;
    log.append(row);
    while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("log", (event) => {
    const line = JSON.parse(event.data);
    const time = new Date(line.timeMs).toISOString().replace("T", " ").replace("Z", "");
    const where = line.subscriber ? `${line.plugin} (${line.subscriber})` : line.plugin;
    const kind = line.stream === "log" ? line.level : line.stream;
    append(`${time} ${where} ${kind}: ${line.message}`, `line ${kind}`);
  });
  source.addEventListener("lagged", (event) => {
    append(`… ${JSON.parse(event.data).missed} lines missed`, "line lagged");
  });
  document.body.addEventListener("htmx:beforeSwap", () => source.close(), { once: true });
})();
