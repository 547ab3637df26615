//! The chat template of a Hugging Face checkpoint: its Jinja source and special tokens, read from
//! the checkpoint's `tokenizer_config.json` (and `chat_template.jinja`, where transformers ≥ 4.43
//! writes the template), rendered with minijinja as transformers renders it with Jinja2.
//!
//! Nothing here is a constant of a family: Llama-3's header tokens, ChatML's `<|im_start|>`, the
//! BOS and end-of-turn tokens all come from the files, so any checkpoint's own template applies.

use std::path::Path;

use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use crate::{Result, VlmError};

/// The file beside `tokenizer.json` that holds the template and the special tokens' names.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// Where transformers ≥ 4.43 writes the template instead.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A checkpoint's chat template and the names of its special tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTemplate {
    /// The Jinja source.
    pub source: String,
    /// `bos_token` (Llama-3's `<|begin_of_text|>`; none for Qwen2).
    pub bos_token: Option<String>,
    /// `eos_token`: the token that ends an assistant turn (Llama-3-Instruct's `<|eot_id|>`,
    /// ChatML's `<|im_end|>`); training appends it to every answer and decoding stops there.
    pub eos_token: String,
    /// The token that stands for the image in a prompt, expanded to one per image feature.
    pub image_token: String,
}

fn render_err(e: Error) -> VlmError {
    VlmError::Tokenizer(format!("chat template: {e:#}"))
}

fn config_err(path: &Path, message: impl std::fmt::Display) -> VlmError {
    VlmError::Tokenizer(format!("{}: {message}", path.display()))
}

/// A special token's name from `tokenizer_config.json`: a string, or transformers' object form
/// `{"content": "…", …}`.
fn token_name(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl ChatTemplate {
    /// Read the template beside `tokenizer.json` in `dir`; `None` when `dir` has no
    /// `tokenizer_config.json` (s2h's own tokenizers have none). `has_token` tells which tokens
    /// the vocabulary holds, to choose the image token when the files name none: `<image>`
    /// (LLaVA), `<|image_pad|>` (Qwen2-VL), else Llama-3's first reserved special token.
    pub fn load(dir: &Path, has_token: &dyn Fn(&str) -> bool) -> Result<Option<Self>> {
        let path = dir.join(TOKENIZER_CONFIG_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| config_err(&path, e))?;
        let jinja = dir.join(CHAT_TEMPLATE_FILE);
        let source = match config.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str().map(str::to_string))
                .ok_or_else(|| config_err(&path, "no `default` among the named chat templates"))?,
            _ if jinja.is_file() => {
                std::fs::read_to_string(&jinja).map_err(|e| VlmError::io(&jinja, e))?
            }
            _ => {
                return Err(config_err(
                    &path,
                    format!(
                        "no chat template (neither `chat_template` here nor {CHAT_TEMPLATE_FILE}): \
                         s2h trains and decodes in the checkpoint's own chat format"
                    ),
                ));
            }
        };
        let eos_token = token_name(config.get("eos_token"))
            .ok_or_else(|| config_err(&path, "no `eos_token`: the end of a turn is unknown"))?;
        let bos_token = token_name(config.get("bos_token"));
        let image_token = match token_name(config.get("image_token")) {
            Some(t) => t,
            None => ["<image>", "<|image_pad|>"]
                .into_iter()
                .map(str::to_string)
                .chain((0..256).map(|i| format!("<|reserved_special_token_{i}|>")))
                .find(|t| has_token(t))
                .ok_or_else(|| {
                    config_err(
                        &path,
                        "no token to stand for the image: name one as `image_token` (it must be \
                         a special token of the vocabulary)",
                    )
                })?,
        };
        for (what, token) in [
            ("eos_token", Some(&eos_token)),
            ("image token", Some(&image_token)),
        ]
        .into_iter()
        .chain([("bos_token", bos_token.as_ref())])
        {
            if let Some(t) = token
                && !has_token(t)
            {
                return Err(config_err(
                    &path,
                    format!("{what} `{t}` is not a token of tokenizer.json"),
                ));
            }
        }
        let template = ChatTemplate {
            source,
            bos_token,
            eos_token,
            image_token,
        };
        // A template that does not compile is refused now, not at the first prompt.
        template
            .render(&[ChatMessage::new("user", "x")], true)
            .map_err(|e| config_err(&path, e))?;
        Ok(Some(template))
    }

    /// The conversation as the template writes it.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_in(&self.compile()?, messages, add_generation_prompt)
    }

    /// The template compiled, for [`ChatTemplate::render_in`]: a tokenizer compiles its template
    /// once, not once per prompt.
    pub fn compile(&self) -> Result<Environment<'static>> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned("chat", self.source.clone())
            .map_err(render_err)?;
        Ok(env)
    }

    /// The conversation as the template compiled in `env` ([`ChatTemplate::compile`]) writes it.
    pub fn render_in(
        &self,
        env: &Environment<'static>,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        env.get_template("chat")
            .map_err(render_err)?
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.clone().unwrap_or_default(),
                eos_token => self.eos_token.clone(),
            })
            .map_err(render_err)
    }

    /// The `tokenizer_config.json` that [`ChatTemplate::load`] reads back as this template.
    pub fn to_config(&self) -> serde_json::Value {
        serde_json::json!({
            "chat_template": self.source,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "image_token": self.image_token,
        })
    }
}
