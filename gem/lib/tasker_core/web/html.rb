# frozen_string_literal: true

require "cgi"
require "digest"
require "time"

module TaskerCore
  module Web
    # The pieces every page is made of: escaping, links under the mount point, state
    # badges, times, and the layout (with the dashboard's whole CSS and JS inline: no
    # asset pipeline, no CDN, so it works mounted anywhere and offline).
    #
    # Everything that came from the store or the request goes through {#h}: task names,
    # contexts and error messages are user data and may hold markup.
    module Html
      # Colours of the states, shared by badges, the chart and the DAG.
      STATE_COLOURS = { "pending" => "#9aa5b1", "in_progress" => "#2f80ed", "complete" => "#27ae60",
                        "error" => "#d64545", "cancelled" => "#616e7c", "resolved_manually" => "#8e44ad" }.freeze

      CSS = <<~CSS
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
        header{background:#1f2933;color:#fff;padding:.6em 1.2em;display:flex;gap:1.4em;align-items:center}
        header a{color:#cbd2d9;text-decoration:none}header a:hover{color:#fff}header strong{color:#fff}
        main{padding:1em 1.6em;max-width:1200px}
        h1{font-size:1.35em;margin:.4em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}
        table{border-collapse:collapse;background:#fff;margin-bottom:1em}
        th,td{border-bottom:1px solid #e4e7eb;padding:.3em .7em;text-align:left;vertical-align:top}
        th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
        .badge{display:inline-block;padding:0 .5em;border-radius:.7em;color:#fff;font-size:.85em}
        #{STATE_COLOURS.map { |s, c| ".badge.state-#{s}{background:#{c}}" }.join}
        pre{background:#fff;border:1px solid #e4e7eb;padding:.6em;overflow:auto;max-height:18em;margin:.2em 0}
        form.filters{display:flex;gap:.6em;flex-wrap:wrap;align-items:end;margin-bottom:1em}
        form.filters label{display:flex;flex-direction:column;font-size:.85em}
        form.action{display:inline-flex;gap:.3em;margin:.2em 0}
        input,select,button{font:inherit;padding:.2em .4em}
        button{cursor:pointer;border:1px solid #9aa5b1;border-radius:3px;background:#fff}
        button.danger{border-color:#d64545;color:#d64545}
        .error-page{background:#fff;border-left:4px solid #d64545;padding:1em}
        .flash{background:#e3f9e5;border-left:4px solid #27ae60;padding:.5em 1em;margin-bottom:1em}
        .dag{background:#fff;border:1px solid #e4e7eb;padding:.6em;overflow:auto}
        .dag svg{max-width:100%;height:auto}
        .chart{background:#fff;border:1px solid #e4e7eb}
        .muted{color:#7b8794}.pager{margin:.6em 0}
        .step-card{background:#fff;border:1px solid #e4e7eb;padding:.4em .8em;margin:.6em 0}
        .step-card.failed{border-left:4px solid #d64545}
      CSS

      # Asks before a POST form is sent (a form marks itself with data-confirm).
      JS = <<~JS
        document.addEventListener("submit", function (e) {
          var q = e.target.getAttribute("data-confirm");
          if (q && !window.confirm(q)) { e.preventDefault(); }
        });
      JS

      # Only the layout's own <style> and <script> run (by their hashes: nothing the store
      # or a request put in a page can add a script, a style or an event handler), forms post
      # and scripts connect only here (the browser spec's forged POST is same-origin), and
      # nothing is loaded from elsewhere. The SVGs colour with attributes,
      # which a policy does not govern.
      CONTENT_SECURITY_POLICY = ["default-src 'none'", "script-src 'sha256-#{Digest::SHA256.base64digest(JS)}'",
                                 "style-src 'sha256-#{Digest::SHA256.base64digest(CSS)}'", "img-src 'self' data:",
                                 "connect-src 'self'",
                                 "form-action 'self'", "frame-ancestors 'self'", "base-uri 'none'"].join("; ").freeze

      module_function

      # HTML-escapes anything (nil is ""): & < > " ' (CGI's set; Rack's also escapes "/",
      # which makes every URL unreadable in the source for no safety gained in quoted attributes).
      # @param value [Object]
      # @return [String]
      def h(value) = CGI.escapeHTML(value.to_s)

      # A URL under the mount point, with a query string of the non-empty values.
      # @param base [String] the request's script_name
      # @param path [String] "/tasks/1"
      # @param query [Hash]
      # @return [String]
      def url(base, path, query = {})
        query = query.reject { |_, v| v.nil? || v.to_s.empty? }
        "#{base}#{path}#{"?#{Rack::Utils.build_query(query)}" unless query.empty?}"
      end

      # @param state [String]
      # @return [String]
      def badge(state) = %(<span class="badge state-#{h(state)}">#{h(state)}</span>)

      # @param time [Time, nil]
      # @return [String] UTC, to the second
      def time(time) = time.respond_to?(:utc) ? time.utc.strftime("%Y-%m-%d %H:%M:%S UTC") : h(time)

      # A value as pretty JSON in a <pre> (results, contexts, error details).
      # @param value [Object]
      # @return [String]
      def json_block(value)
        %(<pre>#{h(JSON.pretty_generate(value))}</pre>)
      rescue JSON::GeneratorError, TypeError
        %(<pre>#{h(value.inspect)}</pre>)
      end

      # The whole page around a page's body.
      # @param title [String]
      # @param base [String]
      # @param body [String] already escaped HTML
      # @return [String]
      def layout(title:, base:, body:)
        nav = { "Overview" => "/", "Tasks" => "/tasks", "Errors" => "/tasks?state=error", "Processes" => "/processes" }
        <<~HTML
          <!DOCTYPE html>
          <html lang="en"><head><meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>#{h(title)} · tasker-core</title>
          <style>#{CSS}</style></head>
          <body><header><strong>tasker-core</strong>
          #{nav.map { |label, path| %(<a href="#{h(base)}#{h(path)}">#{label}</a>) }.join("\n")}
          </header><main>
          #{body}
          </main><script>#{JS}</script></body></html>
        HTML
      end
    end
  end
end
