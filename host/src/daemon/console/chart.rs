//! A job's last runs as an inline SVG drawn on the server (no script):
//! four small panels sharing the x axis, oldest run on the left: records
//! synced, conflicts, failures (failed writes and skipped records) as bars,
//! duration as a line; a dot under each run says its status.

use std::fmt::Write;

/// One run, as the chart draws it.
pub struct Point {
    pub id: u64,
    pub status: String,
    pub synced: f64,
    pub conflicts: f64,
    pub failures: f64,
    pub seconds: f64,
}

/// A panel: its label, its CSS class (`line` draws a line), its value.
type Panel = (&'static str, &'static str, fn(&Point) -> f64);

const WIDTH: f64 = 640.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const PANEL: f64 = 52.0;
const GAP: f64 = 22.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The chart of `points` (oldest first) for job `job`.
pub fn svg(job: &str, points: &[Point]) -> String {
    let n = points.len().max(1) as f64;
    let plot = WIDTH - LEFT - RIGHT;
    let step = plot / n;
    let panels: [Panel; 4] = [
        ("records synced", "bar", |p| p.synced),
        ("conflicts", "bar-conflicts", |p| p.conflicts),
        ("failed writes + skipped", "bar-failures", |p| p.failures),
        ("duration (s)", "line", |p| p.seconds),
    ];
    let height = 20.0 + panels.len() as f64 * (PANEL + GAP) + 14.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="last {} runs of {}" xmlns="http://www.w3.org/2000/svg">"#,
        points.len(),
        escape(job)
    );
    let _ = write!(
        out,
        r#"<text class="title" x="0" y="13">{} · last {} run(s), oldest left</text>"#,
        escape(job),
        points.len()
    );
    for (i, (label, class, value)) in panels.iter().enumerate() {
        let top = 20.0 + i as f64 * (PANEL + GAP) + GAP - 4.0;
        let bottom = top + PANEL;
        let max = points.iter().map(value).fold(0.0_f64, f64::max);
        let scale = if max > 0.0 { PANEL / max } else { 0.0 };
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{}">{label}</text><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{bottom}" text-anchor="end">0</text><line class="axis" x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}"/>"#,
            top - 5.0,
            LEFT - 4.0,
            top + 9.0,
            number(max),
            LEFT - 4.0,
            WIDTH - RIGHT
        );
        if *class == "line" {
            let path: Vec<String> = points
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    format!(
                        "{:.1},{:.1}",
                        LEFT + step * (j as f64 + 0.5),
                        bottom - value(p) * scale
                    )
                })
                .collect();
            if path.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline class="line" points="{}"/>"#,
                    path.join(" ")
                );
            }
            for (j, p) in points.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<circle class="dot-other" cx="{:.1}" cy="{:.1}" r="2.5"><title>run {}: {:.2} s</title></circle>"#,
                    LEFT + step * (j as f64 + 0.5),
                    bottom - value(p) * scale,
                    p.id,
                    p.seconds
                );
            }
        } else {
            for (j, p) in points.iter().enumerate() {
                let h = value(p) * scale;
                let _ = write!(
                    out,
                    r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>run {}: {} {label}</title></rect>"#,
                    LEFT + step * j as f64 + step * 0.15,
                    bottom - h,
                    (step * 0.7).max(1.0),
                    h,
                    p.id,
                    number(value(p))
                );
            }
        }
    }
    let y = height - 6.0;
    for (j, p) in points.iter().enumerate() {
        let class = match p.status.as_str() {
            "success" => "dot-success",
            "failed" => "dot-failed",
            _ => "dot-other",
        };
        let _ = write!(
            out,
            r#"<circle class="{class}" cx="{:.1}" cy="{y}" r="3.5"><title>run {}: {}</title></circle>"#,
            LEFT + step * (j as f64 + 0.5),
            p.id,
            escape(&p.status)
        );
    }
    out.push_str("</svg>");
    out
}
