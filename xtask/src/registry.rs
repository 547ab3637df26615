//! Every figure and table of the paper as a target (`../shared/ANALYSIS.md` §2): its class, what
//! it needs, the paper's own numbers where the reference documents transcribe them, and what
//! each tier runs. `cargo xtask reproduce-figures --list` prints this table.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, bail};

/// What a target is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Data and statistics only, no model: exact at every tier.
    Data,
    /// Trained models, evaluated.
    Evaluated,
    /// Checkpoint analysis (losses, gradients, attribution).
    Gradient,
    /// Outside models or benchmarks (API models, MMMU, …): scored from given prediction files.
    External,
    /// Not data (pseudo-code).
    NotData,
}

impl Class {
    pub fn letter(self) -> &'static str {
        match self {
            Class::Data => "D",
            Class::Evaluated => "E",
            Class::Gradient => "G",
            Class::External => "X",
            Class::NotData => "-",
        }
    }
}

/// How much is run: `smoke` exercises every stage in minutes, `cpu` learns on a CPU over hours,
/// `gpu` fits one GPU, `paper` is the paper's budgets (plans and commands only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Smoke,
    Cpu,
    Gpu,
    Paper,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Smoke, Tier::Cpu, Tier::Gpu, Tier::Paper];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Smoke => "smoke",
            Tier::Cpu => "cpu",
            Tier::Gpu => "gpu",
            Tier::Paper => "paper",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tier {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "smoke" => Ok(Tier::Smoke),
            "cpu" => Ok(Tier::Cpu),
            "gpu" => Ok(Tier::Gpu),
            "paper" => Ok(Tier::Paper),
            other => bail!("unknown tier `{other}`: smoke, cpu, gpu or paper"),
        }
    }
}

/// A number the paper prints, as the reference documents transcribe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperNumber {
    pub what: &'static str,
    pub value: &'static str,
}

const fn n(what: &'static str, value: &'static str) -> PaperNumber {
    PaperNumber { what, value }
}

/// How a target is made at a tier.
#[derive(Debug, Clone, Copy)]
pub enum Made {
    /// Made by this function (data targets: exactly, whatever the tier).
    By(fn(&crate::Ctx) -> Result<crate::Output>),
    /// Not made by this pipeline yet; the gallery says so.
    Pending,
    /// Cannot be made by s2h as it stands, for the reason given (the gallery prints it).
    Blocked(&'static str),
    /// Nothing to make (pseudo-code figures).
    Nothing,
}

/// One figure or table.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// `fig03`, `tab12`, …
    pub id: &'static str,
    pub title: &'static str,
    pub class: Class,
    /// Tasks, supervisions and scale the paper uses (what the runs must cover).
    pub needs: &'static str,
    pub paper: &'static [PaperNumber],
    pub made: Made,
}

impl Target {
    /// The target's directory under the output directory.
    pub fn dir(&self, out: &std::path::Path) -> PathBuf {
        out.join(self.id)
    }
}

use crate::{ablations, analysed, data, evaluated, external, recipes};
use Class::{Data, Evaluated, External, Gradient, NotData};
use Made::{Blocked, By, Nothing};

macro_rules! target {
    ($id:literal, $class:expr, $title:literal, $needs:literal, [$($p:expr),* $(,)?], $made:expr) => {
        Target {
            id: $id,
            title: $title,
            class: $class,
            needs: $needs,
            paper: &[$($p),*],
            made: $made,
        }
    };
}

/// Why Tables 5 and 6 are not made.
const QWEN: &str = "the table is the paper's grid of results with another model, Qwen2.5-VL-3B/7B; \
    s2h-vlm does not yet have Qwen2.5-VL's vision encoder (windowed attention, 3-D rotary \
    positions) to start from, and s2h's own model in its place would not be that table";

/// Why Table 9 is not made.
const BENCHMARKS: &str = "the table scores general benchmarks (MMMU, MME, ...) with their own \
    scorers on an 8B model trained on the paper's 1.8M-record instruction mix; s2h has neither";

/// Every figure and table of the paper, in the paper's order.
pub const TARGETS: &[Target] = &[
    target!(
        "fig01",
        Data,
        "CTR example (image and LaTeX table)",
        "CTR",
        [],
        By(data::fig01)
    ),
    target!(
        "fig02",
        Data,
        "Annotated examples of TR, Grid Navigation and Visual Analogy",
        "TR, Grid, VA",
        [],
        By(data::fig02)
    ),
    target!(
        "fig03",
        Evaluated,
        "S2H accuracy on CTR, medium (left) and hard (right), by training data",
        "CTR · Text (hard-text), Image, Mix · 3–24×10^4",
        [],
        By(evaluated::fig03)
    ),
    target!(
        "fig04",
        Evaluated,
        "CTR hard accuracy and generation length: Text+Image, Mix, Image-via-Text",
        "CTR · 16×10^4",
        [n("generation length", "Image-via-Text ≈3× longer (§3)")],
        By(evaluated::fig04)
    ),
    target!(
        "fig05",
        Evaluated,
        "Hard-image S2H on TR, Grid, VA: Text, Image, Mix, Mix+, Align-Mix+",
        "TR, Grid, VA · 3–24×10^4",
        [],
        By(evaluated::fig05)
    ),
    target!(
        "fig06",
        Evaluated,
        "Accuracy and generation length: Image-via-Text+, Mix+, Mix+ +Convert, Align-Mix+",
        "TR, VA · 12×10^4",
        [n(
            "Mix+ +Convert generation length",
            "about 1.7× Mix+ (I.2)"
        )],
        By(recipes::fig06)
    ),
    target!(
        "fig07",
        Gradient,
        "CTR: mean gradient norm vs gradient alignment (Eq 3) per checkpoint; Eq 2 during training",
        "CTR · Mix, Text+Image, Image",
        [],
        By(analysed::fig07)
    ),
    target!(
        "fig08",
        Gradient,
        "TR: Eq 4, Eq 5 and Eq 2 during training",
        "TR · Mix, Mix+, Align-Mix+, Image-via-Text+, Mix→Mix+",
        [],
        By(analysed::fig08)
    ),
    target!(
        "fig09",
        Gradient,
        "TR: mean gradient norm vs gradient alignment (Eq 3) per checkpoint",
        "TR · Mix, Mix+, Align-Mix+",
        [],
        By(analysed::fig09)
    ),
    target!(
        "fig10",
        NotData,
        "Algorithm 1 (mixture)",
        "pseudo-code",
        [],
        Nothing
    ),
    target!(
        "fig11",
        NotData,
        "Algorithms 2 and 3 (spiral and sinusoidal paths)",
        "pseudo-code",
        [],
        Nothing
    ),
    target!(
        "fig12",
        Data,
        "Unicode glyphs of the Grid objects and obstacles",
        "Grid",
        [],
        By(data::fig12)
    ),
    target!(
        "fig13",
        Evaluated,
        "CTR epochs ablation at 4×10^4 unique records",
        "CTR · Text, Image",
        [],
        By(evaluated::fig13)
    ),
    target!(
        "fig14",
        Evaluated,
        "Fig 3 by unique records",
        "CTR",
        [],
        By(evaluated::fig14)
    ),
    target!(
        "fig15",
        Evaluated,
        "Fig 5 with the alignment phase's data counted",
        "TR, Grid, VA · Mix+, Align-Mix+",
        [],
        By(recipes::fig15)
    ),
    target!(
        "fig16",
        Evaluated,
        "Text warm-up: (TW)Mix vs Mix on CTR; (TW)Align-Mix+ on TR, VA",
        "CTR, TR, VA",
        [],
        By(recipes::fig16)
    ),
    target!(
        "fig17",
        Gradient,
        "TR: Eq 3 and mean gradient norm over training",
        "TR · Mix, Mix+, Align-Mix+",
        [],
        By(analysed::fig17)
    ),
    target!(
        "fig18",
        Gradient,
        "TR: gradient cosine (Eq 7) vs and over training",
        "TR · Mix, Mix+, Align-Mix+",
        [],
        By(analysed::fig18)
    ),
    target!(
        "fig19",
        Gradient,
        "CTR: Adam update alignment (Eq 8); Eq 2 during training",
        "CTR · Mix, Text+Image, Image",
        [],
        By(analysed::fig19)
    ),
    target!(
        "fig20",
        Gradient,
        "TR: Adam update alignment (Eq 8) vs and over training",
        "TR · Mix, Mix+, Align-Mix+",
        [],
        By(analysed::fig20)
    ),
    target!(
        "fig21",
        Gradient,
        "VA: Eq 4, Eq 5 and Eq 2 during training",
        "VA · as Fig 8",
        [],
        By(analysed::fig21)
    ),
    target!(
        "fig22",
        Evaluated,
        "VA: simple-composition ablation of Mix+",
        "VA · Mix+, (TW)Mix+, (TW)Align-Mix+ · 12×10^4",
        [],
        By(ablations::fig22)
    ),
    target!(
        "fig23",
        Evaluated,
        "TR: alignment-phase size ablation",
        "TR · Align-Mix+",
        [],
        By(ablations::fig23)
    ),
    target!(
        "fig24",
        Evaluated,
        "VA: text warm-up size 1–3×10^4",
        "VA · (TW)Mix+, (TW)Align-Mix+",
        [],
        By(ablations::fig24)
    ),
    target!(
        "fig25",
        Evaluated,
        "VA: lossy vs lossless text",
        "VA · Mix+, Align-Mix+, (TW)Align-Mix+ · 12×10^4",
        [],
        By(ablations::fig25)
    ),
    target!(
        "fig26",
        Evaluated,
        "Multi-task training: average, joint vs individual",
        "TR+Grid+VA · Image, Image-via-Text+, Mix+, Align-Mix+",
        [],
        By(ablations::fig26)
    ),
    target!(
        "fig27",
        Evaluated,
        "Repetitions of unique hard Text",
        "TR, VA · Mix+, Align-Mix+ · 12×10^4",
        [],
        By(ablations::fig27)
    ),
    target!(
        "fig28",
        Gradient,
        "TR pixel attribution, three token groups (Mix+ vs Align-Mix+)",
        "TR · 24×10^4",
        [],
        By(analysed::fig28)
    ),
    target!(
        "fig29",
        Gradient,
        "VA pixel attribution: Example 1, Example 2, query",
        "VA · (TW)Align-Mix+ · 12×10^4",
        [],
        By(analysed::fig29)
    ),
    target!(
        "fig30",
        Evaluated,
        "TR failure modes: cell precision and recall; a shortcut",
        "TR · Text, Image, Mix+ · 24×10^4",
        [
            n("index of the first error", "mean 14.7"),
            n(
                "wrong outputs erring before the 12th number",
                "56% (26% of all)"
            )
        ],
        By(evaluated::fig30)
    ),
    target!(
        "fig31",
        Evaluated,
        "Grid failure modes: reach destination, objects collected, obstacles passed",
        "Grid · Text, Image, Mix+",
        [
            n(
                "source/destination parsed",
                "≥98% at 1.5×10^4, 100% at ≥6×10^4"
            ),
            n(
                "obstacles passed through at 24×10^4",
                "Mix+ 0.12, Text 0.78, Image 0.67"
            )
        ],
        By(evaluated::fig31)
    ),
    target!(
        "fig32",
        Data,
        "TR simple and hard example images",
        "TR",
        [],
        By(data::fig32)
    ),
    target!(
        "fig33",
        Data,
        "TR example images (continued)",
        "TR",
        [],
        By(data::fig33)
    ),
    target!(
        "fig34",
        Data,
        "Grid Navigation simple and hard example images",
        "Grid",
        [],
        By(data::fig34)
    ),
    target!(
        "fig35",
        Data,
        "Grid Navigation example images (continued)",
        "Grid",
        [],
        By(data::fig35)
    ),
    target!(
        "fig36",
        Data,
        "Visual Analogy simple and hard example images",
        "VA",
        [],
        By(data::fig36)
    ),
    target!(
        "fig37",
        Data,
        "Visual Analogy example images (continued)",
        "VA",
        [],
        By(data::fig37)
    ),
    target!(
        "tab01",
        Data,
        "Simple vs hard: path lengths, turns, DFS steps, objects, obstacle types",
        "TR, Grid, VA",
        [
            n("TR mean path length", "simple 12, hard 35"),
            n(
                "Grid objects / obstacle types / DFS steps",
                "simple 1–2 / 1 / 10–25, hard 2–5 / 3–5 / 26–60"
            )
        ],
        By(data::tab01)
    ),
    target!(
        "tab02",
        Data,
        "Visual Analogy attribute values per domain",
        "VA",
        [],
        By(data::tab02)
    ),
    target!(
        "tab03",
        Data,
        "Hyper-parameters (Eagle)",
        "configurations used",
        [],
        By(data::tab03)
    ),
    target!(
        "tab04",
        Data,
        "Hyper-parameters (Qwen2.5-VL)",
        "configurations used",
        [],
        By(data::tab04)
    ),
    target!(
        "tab05",
        Evaluated,
        "Qwen2.5-VL-3B results",
        "all tasks × 8 supervisions × 3/6×10^4 (another model)",
        [],
        Blocked(QWEN)
    ),
    target!(
        "tab06",
        Evaluated,
        "Qwen2.5-VL-7B results",
        "all tasks × 8 supervisions × 3/6×10^4 (another model)",
        [],
        Blocked(QWEN)
    ),
    target!(
        "tab07",
        Evaluated,
        "Pattern-held-out Visual Analogy",
        "VA · Text, Image, Mix × 3–24×10^4",
        [],
        By(ablations::tab07)
    ),
    target!(
        "tab08",
        Evaluated,
        "Image → text transfer (Mix+ with hard Image)",
        "TR, VA × 3–24×10^4",
        [],
        By(recipes::tab08)
    ),
    target!(
        "tab09",
        External,
        "General benchmarks (MMMU, MME, …)",
        "Eagle ± synthetic data, outside benchmarks",
        [],
        Blocked(BENCHMARKS)
    ),
    target!(
        "tab10",
        External,
        "Frontier and open models on simple and hard",
        "Claude-3.5, GPT-4o, o1, Llama-3.2-11B-V, Pixtral predictions",
        [],
        By(external::tab10)
    ),
    target!(
        "tab11",
        Evaluated,
        "Alignment-phase composition",
        "TR, VA · 10^4 + 12×10^4",
        [],
        By(ablations::tab11)
    ),
    target!(
        "tab12",
        Evaluated,
        "Direct vs \"Convert\"-prompted accuracy, conversion accuracy",
        "TR, VA · Mix+, Align-Mix+, (TW)…",
        [n(
            "accuracy on wrongly converted examples",
            "44.3 / 35.4 / 63.1% (I.6)"
        )],
        By(recipes::tab12)
    ),
    target!(
        "tab13",
        Evaluated,
        "Chain-of-thought removal",
        "VA · Mix+, (TW)Mix+, (TW)Align-Mix+",
        [],
        By(ablations::tab13)
    ),
    target!(
        "tab14",
        Evaluated,
        "Visual Analogy failure-mode error rates",
        "VA · Text, Image, Mix+ · 12×10^4",
        [],
        By(evaluated::tab14)
    ),
];

/// The targets named in `only` (comma-separated ids), or all.
pub fn select(only: Option<&str>) -> Result<Vec<&'static Target>> {
    let Some(only) = only else {
        return Ok(TARGETS.iter().collect());
    };
    let mut chosen = Vec::new();
    for id in only.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = id.to_ascii_lowercase();
        match TARGETS.iter().find(|t| t.id == id) {
            Some(t) => chosen.push(t),
            None => bail!(
                "unknown target `{id}`; `cargo xtask reproduce-figures --list` shows them (fig01–fig37, tab01–tab14)"
            ),
        }
    }
    if chosen.is_empty() {
        bail!("--only names no target");
    }
    Ok(chosen)
}

/// The registry as a text table (`--list`).
pub fn list() -> String {
    let mut s = String::from("id     class  made     title\n");
    for t in TARGETS {
        let made = match t.made {
            Made::By(_) => "yes",
            Made::Pending => "pending",
            Made::Blocked(_) => "blocked",
            Made::Nothing => "-",
        };
        s.push_str(&format!(
            "{:<6} {:<6} {:<8} {}\n       needs: {}\n",
            t.id,
            t.class.letter(),
            made,
            t.title,
            t.needs
        ));
        for p in t.paper {
            s.push_str(&format!("       paper: {}: {}\n", p.what, p.value));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper has Figures 1–37 and Tables 1–14; each is a target, once.
    #[test]
    fn every_figure_and_table_is_a_target_once() {
        let mut expected: Vec<String> = (1..=37).map(|i| format!("fig{i:02}")).collect();
        expected.extend((1..=14).map(|i| format!("tab{i:02}")));
        let ids: Vec<&str> = TARGETS.iter().map(|t| t.id).collect();
        assert_eq!(ids, expected);
        for t in TARGETS {
            assert!(!t.title.is_empty() && !t.needs.is_empty(), "{}", t.id);
            // Data targets are always made; pseudo-code is never.
            match t.class {
                Class::Data => assert!(matches!(t.made, Made::By(_)), "{}", t.id),
                Class::NotData => assert!(matches!(t.made, Made::Nothing), "{}", t.id),
                _ => {}
            }
        }
    }

    #[test]
    fn selection_and_tiers_parse() {
        assert_eq!(select(Some("fig05, TAB12")).unwrap().len(), 2);
        assert!(select(Some("fig99")).is_err());
        assert!(select(Some(" , ")).is_err());
        assert_eq!(select(None).unwrap().len(), 51);
        assert_eq!("GPU".parse::<Tier>().unwrap(), Tier::Gpu);
        assert!("huge".parse::<Tier>().is_err());
        assert!(list().contains("fig31") && list().contains("Mix+ 0.12"));
    }
}
