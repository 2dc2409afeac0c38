//! The demo's console: timeline lines as they happen, a progress line while waiting, colour.
//!
//! Colour and the progress line are for people: [`Style::detect`] turns both off when stdout
//! is not a terminal (piped into a file, CI, a test), and colour off when `NO_COLOR` is set
//! (<https://no-color.org>). Piped output is therefore plain text, one line per event, with
//! no escape sequence and no carriage return.
//!
//! Write errors are ignored on purpose: a reader that went away (`klaxon demo | head`) must
//! not stop the scenarios, whose outcome is still the exit code.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::timeline::{Leg, Tone};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
/// One colour per scenario, in scenario order.
const SCENARIO_COLOURS: [&str; 5] = ["\x1b[36m", "\x1b[35m", "\x1b[33m", "\x1b[34m", "\x1b[96m"];
/// Carriage return, then erase the line: where the progress line is redrawn.
const CLEAR_LINE: &str = "\r\x1b[2K";

/// What the console may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
    /// A progress line redrawn in place with `\r`.
    pub live: bool,
}

impl Style {
    /// Colour and a live progress line on a terminal; colour only without `NO_COLOR`.
    pub fn detect(stdout_is_terminal: bool, no_color_set: bool) -> Style {
        Style {
            colour: stdout_is_terminal && !no_color_set,
            live: stdout_is_terminal,
        }
    }

    pub fn plain() -> Style {
        Style {
            colour: false,
            live: false,
        }
    }

    /// `text` in the ANSI `code`, when colour is on.
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint(DIM, text)
    }

    pub fn good(self, text: &str) -> String {
        self.paint(GREEN, text)
    }

    pub fn bad(self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// `text` in scenario `index`'s colour.
    pub fn scenario(self, index: usize, text: &str) -> String {
        self.paint(SCENARIO_COLOURS[index % SCENARIO_COLOURS.len()], text)
    }
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// Since the demo started.
    pub at: Duration,
    /// Index into the scenarios.
    pub scenario: usize,
    pub tag: &'a str,
    /// The escalation or delivery id (shortened when printed), or what else it is about.
    pub subject: &'a str,
    pub leg: Option<Leg>,
    pub text: &'a str,
    pub tone: Tone,
}

/// `esc_0193b0c4…9f2a` → `esc_…9f2a`: enough to tell four escalations apart.
pub fn short_id(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) if rest.len() > 6 => {
            let tail: String = rest.chars().skip(rest.chars().count() - 4).collect();
            format!("{prefix}_…{tail}")
        }
        _ => id.to_owned(),
    }
}

/// `  +3.25s  ticket   esc_…9f2a  A  dialled Riley Park, on-call (+15551000000)`
pub fn format_line(line: &Line<'_>, style: Style) -> String {
    let at = format!("{:>8}", format!("+{:.2}s", line.at.as_secs_f64()));
    let tag = format!("{:<8}", line.tag);
    let subject = format!("{:<9}", short_id(line.subject));
    let leg = match line.leg {
        Some(Leg::A) => "A",
        Some(Leg::B) => "B",
        None => " ",
    };
    let text = match line.tone {
        Tone::Plain => line.text.to_owned(),
        Tone::Good => style.good(line.text),
        Tone::Bad => style.bad(line.text),
    };
    format!(
        "{}  {}  {}  {}  {}",
        style.dim(&at),
        style.scenario(line.scenario, &tag),
        style.dim(&subject),
        leg,
        text
    )
}

/// `waiting: 2 of 4 scenarios running… 12s`
pub fn progress_text(running: usize, total: usize, elapsed: Duration) -> String {
    format!(
        "waiting: {running} of {total} scenarios running… {}s",
        elapsed.as_secs()
    )
}

/// The console, shared by the scenarios (each line is written whole, under a lock that is
/// never held across an `.await`).
#[derive(Clone)]
pub struct Console(Arc<Mutex<Printer>>);

struct Printer {
    out: Box<dyn Write + Send>,
    style: Style,
    started: Instant,
    /// The progress line currently drawn, if any.
    progress: Option<String>,
}

impl Console {
    pub fn new(out: Box<dyn Write + Send>, style: Style, started: Instant) -> Console {
        Console(Arc::new(Mutex::new(Printer {
            out,
            style,
            started,
            progress: None,
        })))
    }

    pub fn style(&self) -> Style {
        self.lock(|p| p.style)
    }

    /// Time since the demo started.
    pub fn elapsed(&self) -> Duration {
        self.lock(|p| p.started.elapsed())
    }

    /// Prints `text` (one or more whole lines) above the progress line.
    pub fn say(&self, text: &str) {
        self.lock(|p| {
            let style = p.style;
            let progress = p.progress.take();
            let mut buffer = String::new();
            if progress.is_some() && style.live {
                buffer.push_str(CLEAR_LINE);
            }
            buffer.push_str(text);
            buffer.push('\n');
            if let Some(progress) = progress {
                buffer.push_str(&progress);
                p.progress = Some(progress);
            }
            p.write(&buffer);
        });
    }

    pub fn line(&self, line: &Line<'_>) {
        let text = format_line(line, self.style());
        self.say(&text);
    }

    /// Draws (or redraws) the progress line; nothing unless the style is live.
    pub fn progress(&self, running: usize, total: usize) {
        self.lock(|p| {
            if !p.style.live {
                return;
            }
            let text = p
                .style
                .dim(&progress_text(running, total, p.started.elapsed()));
            p.write(&format!("{CLEAR_LINE}{text}"));
            p.progress = Some(text);
        });
    }

    /// Erases the progress line for good.
    pub fn end_progress(&self) {
        self.lock(|p| {
            if p.progress.take().is_some() {
                p.write(CLEAR_LINE);
            }
        });
    }

    fn lock<T>(&self, f: impl FnOnce(&mut Printer) -> T) -> T {
        let mut printer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut printer)
    }
}

impl Printer {
    fn write(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tone: Tone) -> Line<'static> {
        Line {
            at: Duration::from_millis(3250),
            scenario: 0,
            tag: "ticket",
            subject: "esc_0193b0c4d5e6f7a89f2a",
            leg: Some(Leg::A),
            text: "answered",
            tone,
        }
    }

    #[test]
    fn plain_lines_have_aligned_columns_and_no_escapes() {
        let text = format_line(&line(Tone::Good), Style::plain());
        assert_eq!(text, "  +3.25s  ticket    esc_…9f2a  A  answered");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert_eq!(Style::detect(false, false), Style::plain());
        assert!(!Style::detect(true, true).colour);
        assert!(Style::detect(true, true).live);
        let style = Style::detect(true, false);
        let text = format_line(&line(Tone::Good), style);
        assert!(text.contains("\x1b[32manswered\x1b[0m"), "{text:?}");
    }

    #[test]
    fn ids_are_shortened_to_their_tail() {
        assert_eq!(short_id("esc_0193b0c4d5e6f7a89f2a"), "esc_…9f2a");
        assert_eq!(short_id("merge"), "merge");
    }

    #[test]
    fn the_progress_line_counts_running_scenarios() {
        assert_eq!(
            progress_text(2, 4, Duration::from_millis(12_400)),
            "waiting: 2 of 4 scenarios running… 12s"
        );
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_piped_console_never_draws_progress() {
        let sink = Sink::default();
        let console = Console::new(Box::new(sink.clone()), Style::plain(), Instant::now());
        console.progress(1, 4);
        console.say("hello");
        console.end_progress();
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "hello\n"
        );
    }

    #[test]
    fn a_live_console_redraws_progress_below_new_lines() {
        let sink = Sink::default();
        let style = Style {
            colour: false,
            live: true,
        };
        let console = Console::new(Box::new(sink.clone()), style, Instant::now());
        console.progress(1, 4);
        console.say("hello");
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let progress = "waiting: 1 of 4 scenarios running… 0s";
        assert_eq!(
            out,
            format!("{CLEAR_LINE}{progress}{CLEAR_LINE}hello\n{progress}")
        );
    }
}
