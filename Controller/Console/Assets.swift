/// The console's stylesheet and script: served from the binary, no build step, no network.
enum Assets {
    static func response(for name: String) -> ConsoleResponse {
        switch name {
        case "console.css": return ConsoleResponse(contentType: "text/css; charset=utf-8", body: .text(css))
        case "console.js": return ConsoleResponse(contentType: "text/javascript; charset=utf-8", body: .text(script))
        default: return .problem(.notFound, "Not found", "No file \(name).")
        }
    }

    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
        header { display: flex; gap: 24px; align-items: center; padding: 10px 20px; background: #1f2d3d; color: #fff; }
        header a { color: #c9d6e3; text-decoration: none; margin-right: 16px; }
        header a.current { color: #fff; font-weight: 600; }
        .brand { font-weight: 700; } .who { margin-left: auto; color: #c9d6e3; }
        main { padding: 16px 20px; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { border-bottom: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
        th { background: #eef1f4; font-weight: 600; }
        tr.fresh { background: #fff8c5; }
        pre { background: #fff; border: 1px solid #d8dee4; padding: 8px; overflow: auto; }
        pre.diff ins { color: #116329; background: #dafbe1; text-decoration: none; display: block; }
        pre.diff del { color: #82071e; background: #ffebe9; text-decoration: none; display: block; }
        pre.diff .same { display: block; color: #57606a; }
        .ok { color: #116329; } .bad { color: #82071e; }
        dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
        dl.facts dt { font-weight: 600; }
        form.filters input { width: 11em; }
        figure.chart { margin: 12px 0; } figure.chart svg { background: #fff; border: 1px solid #d8dee4; }
        .axis { stroke: #8c959f; } .series { fill: none; stroke: #0969da; stroke-width: 2; } .latest { fill: #0969da; }
        svg text { font-size: 11px; fill: #57606a; }
        details summary { cursor: pointer; color: #0969da; }
        """

    /// Live alerts (server-sent events into the alerts table) and refreshed tables.
    static let script = """
        "use strict";
        function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
        function alertRow(key, text) {
          const eve = JSON.parse(text);
          const tr = document.createElement("tr");
          tr.dataset.key = key;
          const flow = eve.proto + " " + eve.src_ip + ":" + eve.src_port + " -> " + eve.dest_ip + ":" + eve.dest_port;
          for (const cellText of [eve.timestamp, eve.host, String(eve.alert.signature_id), eve.alert.action, flow, eve.alert.signature]) {
            tr.appendChild(cell(cellText));
          }
          const td = document.createElement("td"), details = document.createElement("details");
          const summary = document.createElement("summary"), pre = document.createElement("pre");
          summary.textContent = "EVE"; pre.className = "eve"; pre.textContent = text;
          details.append(summary, pre); td.appendChild(details); tr.appendChild(td);
          tr.className = "fresh";
          return tr;
        }
        function followAlerts() {
          const holder = document.getElementById("alert-stream");
          const body = document.querySelector("#alerts tbody");
          if (!holder || !body) return;
          const live = document.getElementById("live");
          const source = new EventSource(holder.dataset.source);
          source.addEventListener("alert", (event) => {
            // The first line is the alert's key, the rest its EVE record (exact 64-bit ids).
            const split = event.data.indexOf("\\n");
            const key = event.data.slice(0, split), text = event.data.slice(split + 1);
            if (body.querySelector('tr[data-key="' + CSS.escape(key) + '"]')) return;
            body.insertBefore(alertRow(key, text), body.firstChild);
            while (body.rows.length > 1000) body.deleteRow(body.rows.length - 1);
          });
          source.addEventListener("end", (event) => { source.close(); if (live) { live.textContent = event.data; live.className = "bad"; } });
          source.onerror = () => { if (live) { live.textContent = "reconnecting"; live.className = "bad"; } };
          source.onopen = () => { if (live) { live.textContent = "live"; live.className = "ok"; } };
        }
        function refreshTables() {
          for (const holder of document.querySelectorAll("[data-refresh]")) {
            const seconds = Number(holder.dataset.refresh) || 5;
            setInterval(async () => {
              const response = await fetch(location.href, { credentials: "same-origin" });
              if (!response.ok) return;
              const page = new DOMParser().parseFromString(await response.text(), "text/html");
              const fresh = page.querySelector("[data-refresh]");
              if (fresh) holder.innerHTML = fresh.innerHTML;
            }, seconds * 1000);
          }
        }
        document.addEventListener("DOMContentLoaded", () => { followAlerts(); refreshTables(); });
        """
}
