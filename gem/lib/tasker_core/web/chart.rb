# frozen_string_literal: true

module TaskerCore
  module Web
    # The overview's chart as inline SVG: one bar per interval for steps/s, and the tasks
    # that failed in it as red bars on their own scale below. Drawn by hand (a few rects),
    # so the page needs no JS library and no network.
    module Chart
      WIDTH = 720
      HEIGHT = 220
      LEFT = 56
      BAR_AREA = 130
      ERROR_AREA = 40

      module_function

      # @param buckets [Array<Throughput::Bucket>] oldest first
      # @return [String] an <svg> element
      def render(buckets)
        return %(<p class="muted">no data</p>) if buckets.empty?

        slot = (WIDTH - LEFT - 10).fdiv(buckets.size)
        rate_max = [buckets.map(&:steps_per_second).max, 0.001].max
        error_max = [buckets.map(&:errors).max, 1].max
        bars = buckets.each_with_index.map { |b, i| bar(b, i, slot, rate_max, error_max) }
        <<~SVG
          <svg class="chart" xmlns="http://www.w3.org/2000/svg" width="#{WIDTH}" height="#{HEIGHT}" viewBox="0 0 #{WIDTH} #{HEIGHT}" role="img" aria-label="steps per second and failed tasks over the last hour">
          <text x="4" y="14" font-size="11" fill="#52606d">#{format('%.2f', rate_max)} steps/s</text>
          <text x="4" y="#{20 + BAR_AREA}" font-size="11" fill="#52606d">0</text>
          <text x="4" y="#{40 + BAR_AREA + ERROR_AREA}" font-size="11" fill="#d64545">#{error_max} failed</text>
          <line x1="#{LEFT}" y1="#{20 + BAR_AREA}" x2="#{WIDTH - 10}" y2="#{20 + BAR_AREA}" stroke="#cbd2d9"/>
          #{bars.join("\n")}
          <text x="#{LEFT}" y="#{HEIGHT - 4}" font-size="11" fill="#52606d">#{Html.h(clock(buckets.first.from))}</text>
          <text x="#{WIDTH - 10}" y="#{HEIGHT - 4}" font-size="11" fill="#52606d" text-anchor="end">#{Html.h(clock(buckets.last.to))}</text>
          </svg>
        SVG
      end

      def bar(bucket, index, slot, rate_max, error_max)
        x = LEFT + (index * slot) + 2
        w = [slot - 4, 1].max
        rate_h = (bucket.steps_per_second / rate_max * BAR_AREA).round(1)
        error_h = (bucket.errors.fdiv(error_max) * ERROR_AREA).round(1)
        title = format("%s–%s: %.2f steps/s (%d steps), %d failed tasks", clock(bucket.from), clock(bucket.to),
                       bucket.steps_per_second, bucket.steps, bucket.errors)
        %(<g><title>#{Html.h(title)}</title>) +
          %(<rect x="#{x.round(1)}" y="#{(20 + BAR_AREA - rate_h).round(1)}" width="#{w.round(1)}" height="#{rate_h}" fill="#27ae60"/>) +
          %(<rect x="#{x.round(1)}" y="#{24 + BAR_AREA}" width="#{w.round(1)}" height="#{error_h}" fill="#d64545"/></g>)
      end

      def clock(time) = time.utc.strftime("%H:%M")

      private_class_method :bar, :clock
    end
  end
end
