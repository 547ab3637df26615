//! Which parameters a gradient is taken over: all, one component (vision tower, projector,
//! language model), or those whose module path matches a pattern. The selection marks the chosen
//! parameters as requiring a gradient and every other one as not, so backward skips the rest.

use std::fmt;
use std::str::FromStr;

use s2h_vlm::Vlm;
use s2h_vlm::burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use s2h_vlm::burn::prelude::*;

use crate::{AnalysisError, Result};

/// A parameter subset, named as on the command line: `all`, `vision`, `projector`, `lm`, or a
/// pattern over module paths with `*` for any run of characters
/// (`decoder.layers.*.attn.*`; a pattern without `*` matches the paths that contain it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSet {
    All,
    Vision,
    Projector,
    /// The language model (the decoder, its embeddings included).
    Lm,
    Pattern(String),
}

impl ParamSet {
    /// Whether the parameter at module path `path` belongs to the set.
    pub fn contains(&self, path: &str) -> bool {
        let top = path.split('.').next().unwrap_or("");
        match self {
            ParamSet::All => true,
            ParamSet::Vision => top == "vision",
            ParamSet::Projector => top == "projector",
            ParamSet::Lm => top == "decoder",
            ParamSet::Pattern(p) if p.contains('*') => glob(p, path),
            ParamSet::Pattern(p) => path.contains(p.as_str()),
        }
    }
}

impl FromStr for ParamSet {
    type Err = AnalysisError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Ok(match s.to_ascii_lowercase().as_str() {
            "all" => ParamSet::All,
            "vision" => ParamSet::Vision,
            "projector" => ParamSet::Projector,
            "lm" | "decoder" => ParamSet::Lm,
            "" => {
                return Err(AnalysisError::Invalid(
                    "an empty parameter set; use all, vision, projector, lm or a name pattern"
                        .into(),
                ));
            }
            _ => ParamSet::Pattern(s.to_string()),
        })
    }
}

impl fmt::Display for ParamSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamSet::All => f.write_str("all"),
            ParamSet::Vision => f.write_str("vision"),
            ParamSet::Projector => f.write_str("projector"),
            ParamSet::Lm => f.write_str("lm"),
            ParamSet::Pattern(p) => f.write_str(p),
        }
    }
}

/// `*` matches any run of characters (dots included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// One selected parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub id: ParamId,
    /// Module path, as in the model's safetensors file (`decoder.layers.0.attn.q_proj.weight`).
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Every float parameter of `model` in visiting order, with the ones in `set` marked.
pub fn list_params<B: Backend>(model: &Vlm<B>, set: &ParamSet) -> Vec<(ParamInfo, bool)> {
    let mut lister = Lister {
        path: Vec::new(),
        set,
        out: Vec::new(),
    };
    model.visit(&mut lister);
    lister.out
}

/// `model` with exactly the parameters of `set` requiring a gradient, and those parameters in
/// visiting order; an error when the set selects none.
pub fn select<B: Backend>(model: Vlm<B>, set: &ParamSet) -> Result<(Vlm<B>, Vec<ParamInfo>)> {
    let all = list_params(&model, set);
    let chosen: Vec<ParamInfo> = all
        .iter()
        .filter(|(_, on)| *on)
        .map(|(p, _)| p.clone())
        .collect();
    if chosen.is_empty() {
        let mut names: Vec<&str> = all.iter().map(|(p, _)| p.name.as_str()).take(8).collect();
        if all.len() > names.len() {
            names.push("…");
        }
        return Err(AnalysisError::Invalid(format!(
            "parameter set `{set}` selects no parameter of this model (its parameters: {})",
            names.join(", ")
        )));
    }
    let model = model.map(&mut Marker {
        path: Vec::new(),
        set,
    });
    Ok((model, chosen))
}

struct Lister<'a> {
    path: Vec<String>,
    set: &'a ParamSet,
    out: Vec<(ParamInfo, bool)>,
}

impl<B: Backend> ModuleVisitor<B> for Lister<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let on = self.set.contains(&name);
        self.out.push((
            ParamInfo {
                id: param.id,
                name,
                shape: param.val().dims().to_vec(),
            },
            on,
        ));
    }
}

struct Marker<'a> {
    path: Vec<String>,
    set: &'a ParamSet,
}

impl<B: Backend> ModuleMapper<B> for Marker<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let on = self.set.contains(&self.path.join("."));
        param.set_require_grad(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_and_match_module_paths() {
        let q = "decoder.layers.0.attn.q_proj.weight";
        assert!("all".parse::<ParamSet>().unwrap().contains(q));
        assert!("lm".parse::<ParamSet>().unwrap().contains(q));
        assert!(!"vision".parse::<ParamSet>().unwrap().contains(q));
        assert!(
            "Vision"
                .parse::<ParamSet>()
                .unwrap()
                .contains("vision.vit.patch.weight")
        );
        assert!(!"projector".parse::<ParamSet>().unwrap().contains(q));
        let p: ParamSet = "decoder.layers.*.attn.*".parse().unwrap();
        assert!(p.contains(q));
        assert!(!p.contains("decoder.layers.0.mlp.up.weight"));
        assert!(!p.contains("decoder.norm.weight"));
        let sub: ParamSet = "q_proj".parse().unwrap();
        assert!(sub.contains(q) && !sub.contains("decoder.layers.0.attn.k_proj.weight"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "abc") && glob("a*b*c", "axxbyyc") && !glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"));
        assert!("".parse::<ParamSet>().is_err());
    }
}
