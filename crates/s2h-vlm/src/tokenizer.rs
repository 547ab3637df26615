//! The tokenizer: a Hugging Face `tokenizers` tokenizer built offline from a corpus and a list of
//! words it is given (the caller's vocabulary: `s2h-train` passes the task corpus and every label
//! a task can produce), saved as `tokenizer.json`.
//!
//! Three kinds: word-level (letters runs, single digits, single whitespace characters and single
//! punctuation marks are tokens; a fuse decoder joins them back exactly), byte-level BPE trained
//! on the corpus, and compact (word-level with punctuation runs, plus the corpus's recurring
//! sentences as single tokens). All decode their own encodings back to the exact text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::split::{Split as SplitPre, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::chat::{ChatMessage, ChatTemplate, TOKENIZER_CONFIG_FILE};
use crate::{Result, VlmError};

/// Special tokens and their fixed ids (the same for every tokenizer built here).
pub mod special {
    pub const PAD: &str = "<pad>";
    pub const BOS: &str = "<s>";
    pub const EOS: &str = "</s>";
    pub const UNK: &str = "<unk>";
    /// The image placeholder, expanded to one token per image feature. The prompts written by
    /// `s2h-cot` use the same string (`s2h_cot::IMAGE_PLACEHOLDER`; a test in `s2h-train`,
    /// which sees both crates, ties the two).
    pub const IMAGE: &str = "<image>";
    pub const USER: &str = "<|user|>";
    pub const ASSISTANT: &str = "<|assistant|>";
    pub const ALL: [&str; 7] = [PAD, BOS, EOS, UNK, IMAGE, USER, ASSISTANT];
    pub const PAD_ID: u32 = 0;
    pub const BOS_ID: u32 = 1;
    pub const EOS_ID: u32 = 2;
    pub const UNK_ID: u32 = 3;
    pub const IMAGE_ID: u32 = 4;
    pub const USER_ID: u32 = 5;
    pub const ASSISTANT_ID: u32 = 6;
}

/// Word-level pieces: letter runs and single digits (each with the one space before it, if any),
/// single whitespace characters, single other characters.
const WORD_PATTERN: &str = r" ?[A-Za-z]+| ?[0-9]|\s|[^A-Za-z0-9\s]";

/// Compact pieces: a run of ASCII punctuation is one piece together with the spaces on both sides
/// of it (` & `, ` * & `, `): `); letter runs and digits never take a space, and a space between
/// two words is a piece of its own. So a table cell is two tokens instead of four, and a value or
/// label is the same bare token wherever it appears — table, prompt, chain of thought, answer
/// (`7` in ` & 7 & `, `(7)`, `Answer: 7`) — which a small model learns to copy far more easily.
/// Other symbols (the grid's glyphs) stay single pieces.
const COMPACT_PATTERN: &str = r" *[!-/:-@\[-`{-~]+ *|[A-Za-z]+|[0-9]|\s|[^A-Za-z0-9\s]";

/// How text is cut into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    #[serde(rename = "word")]
    WordLevel,
    /// Byte-level BPE with this vocabulary size (special tokens included).
    Bpe { vocab_size: usize },
    /// Word-level with runs of punctuation as one piece (` &`, ` *`), plus one token for each
    /// sentence or line that recurs verbatim across the corpus (the fixed instructions of a
    /// prompt, `\hline` rows): under half the tokens of word-level on table prompts, for
    /// CPU-sized runs where every token costs.
    Compact,
}

/// `words` cut as the pre-tokenizer cuts them (`runs`: [`COMPACT_PATTERN`]), each piece bare
/// and, for word-level, also with its leading space: the pieces that must be in the vocabulary
/// whether or not the corpus happened to show them.
fn vocabulary_pieces(words: &[String], runs: bool) -> Vec<String> {
    let pieces = word_pieces(&words.join(" "), runs);
    pieces
        .into_iter()
        .filter(|w| !w.trim().is_empty())
        .flat_map(|w| {
            let bare = w.trim_start().to_string();
            let spaced = format!(" {bare}");
            let alnum = bare.starts_with(|c: char| c.is_ascii_alphanumeric());
            [Some(bare), (alnum && !runs).then_some(spaced)]
        })
        .flatten()
        .collect()
}

/// Cut text as the word-level pre-tokenizer does: [`WORD_PATTERN`], or [`COMPACT_PATTERN`] with
/// `runs`.
fn word_pieces(text: &str, runs: bool) -> Vec<String> {
    let is_punct = |c: char| c.is_ascii_punctuation();
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let mut j = i;
        while runs && chars.get(j) == Some(&' ') {
            j += 1;
        }
        if runs && chars.get(j).is_some_and(|&c| is_punct(c)) {
            i = j;
            while i < chars.len() && is_punct(chars[i]) {
                i += 1;
            }
            while i < chars.len() && chars[i] == ' ' {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
            continue;
        }
        let lead =
            !runs && chars[i] == ' ' && chars.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
        if lead {
            i += 1;
        }
        if chars[i].is_ascii_alphabetic() {
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
        } else {
            i += 1;
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

/// Sentences (ending in `. `) and lines that recur verbatim in at least 1% of `texts` (and in
/// at least 3): the fixed wording of prompts and templates. At most [`MAX_PHRASES`], the ones that
/// save the most characters first; ties broken by text so the result is deterministic.
fn recurring_phrases(texts: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for text in texts {
        let mut seen = BTreeSet::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            let end = match bytes[i] {
                b'\n' => i + 1,
                // The space after a full stop ends the sentence, as punctuation pieces take it.
                b' ' if i > 0 && bytes[i - 1] == b'.' => i + 1,
                _ => continue,
            };
            if end > start {
                seen.insert(&text[start..end]);
            }
            start = end;
        }
        for piece in seen {
            *counts.entry(piece).or_default() += 1;
        }
    }
    let min_count = (texts.len() / 100).max(3);
    let mut phrases: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|&(p, n)| {
            n >= min_count && p.trim().len() >= 4 && !special::ALL.iter().any(|s| p.contains(s))
        })
        .collect();
    phrases.sort_by(|a, b| (b.1 * b.0.len()).cmp(&(a.1 * a.0.len())).then(a.0.cmp(b.0)));
    phrases.truncate(MAX_PHRASES);
    phrases.into_iter().map(|(p, _)| p.to_string()).collect()
}

/// Cap on the phrase tokens of [`TokenizerKind::Compact`].
const MAX_PHRASES: usize = 256;

fn tok_err(e: impl std::fmt::Display) -> VlmError {
    VlmError::Tokenizer(e.to_string())
}

/// The model's tokenizer: a `tokenizers::Tokenizer`, either s2h's own (built here, with the
/// special tokens of [`special`] at their fixed ids and the prompt `<s> <|user|> … <|assistant|>`)
/// or a checkpoint's, with its chat template and special tokens read from its files.
#[derive(Clone)]
pub struct VlmTokenizer {
    inner: Tokenizer,
    chat: Option<Chat>,
}

/// A checkpoint's chat format and the ids of its tokens.
#[derive(Clone)]
struct Chat {
    template: ChatTemplate,
    /// The template compiled once: every prompt of a run is rendered with it.
    compiled: std::sync::Arc<minijinja::Environment<'static>>,
    image_id: u32,
    end_id: u32,
}

impl std::fmt::Debug for VlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlmTokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl VlmTokenizer {
    /// Build a tokenizer from the corpus `texts`. `words` must become tokens whether or not the
    /// corpus shows them (word-level and compact; byte-level BPE covers every byte anyway): the
    /// labels, names and symbols a task can produce, so that no `<unk>` meets a rare one.
    pub fn build(kind: TokenizerKind, texts: &[String], words: &[String]) -> Result<Self> {
        let specials: Vec<AddedToken> = special::ALL
            .iter()
            .map(|s| AddedToken::from(s.to_string(), true))
            .collect();
        let inner = match kind {
            TokenizerKind::WordLevel | TokenizerKind::Compact => {
                let runs = kind == TokenizerKind::Compact;
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for text in texts {
                    for piece in word_pieces(text, runs) {
                        *counts.entry(piece).or_default() += 1;
                    }
                }
                let mut extra: BTreeSet<String> =
                    vocabulary_pieces(words, runs).into_iter().collect();
                extra.extend((0x20u8..0x7f).map(|b| (b as char).to_string()));
                extra.insert("\n".into());
                extra.insert("\t".into());
                for w in extra {
                    counts.entry(w).or_default();
                }
                let mut words: Vec<(String, usize)> = counts
                    .into_iter()
                    .filter(|(w, _)| !special::ALL.contains(&w.as_str()))
                    .collect();
                words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let vocab = special::ALL
                    .iter()
                    .map(|s| s.to_string())
                    .chain(words.into_iter().map(|(w, _)| w))
                    .enumerate()
                    .map(|(i, w)| (w, i as u32));
                let model = WordLevel::builder()
                    .vocab(vocab.collect())
                    .unk_token(special::UNK.to_string())
                    .build()
                    .map_err(tok_err)?;
                let mut tok = Tokenizer::new(model);
                let split = SplitPre::new(
                    SplitPattern::Regex(
                        if runs { COMPACT_PATTERN } else { WORD_PATTERN }.to_string(),
                    ),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(tok_err)?;
                tok.with_pre_tokenizer(Some(split));
                tok.with_decoder(Some(Fuse::new()));
                tok.add_special_tokens(specials.clone()).map_err(tok_err)?;
                if kind == TokenizerKind::Compact {
                    let phrases: Vec<AddedToken> = recurring_phrases(texts)
                        .into_iter()
                        .map(|p| AddedToken::from(p, false))
                        .collect();
                    tok.add_tokens(phrases).map_err(tok_err)?;
                }
                tok
            }
            TokenizerKind::Bpe { vocab_size } => {
                let mut trainer: TrainerWrapper = BpeTrainer::builder()
                    .vocab_size(vocab_size)
                    .min_frequency(2)
                    .show_progress(false)
                    .special_tokens(specials.clone())
                    .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                    .build()
                    .into();
                let mut tok = Tokenizer::new(BPE::default());
                tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
                tok.with_decoder(Some(ByteLevelDecoder::default()));
                tok.train(&mut trainer, texts.iter()).map_err(tok_err)?;
                tok.add_special_tokens(specials.clone()).map_err(tok_err)?;
                tok
            }
        };
        let tokenizer = VlmTokenizer { inner, chat: None };
        tokenizer.check_specials()?;
        Ok(tokenizer)
    }

    /// Read a `tokenizer.json`. With a `tokenizer_config.json` beside it (a Hugging Face
    /// checkpoint, or an s2h model fine-tuned from one) the tokenizer is the checkpoint's, in its
    /// chat format ([`ChatTemplate::load`]); without, it must be one of s2h's own.
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| VlmError::Tokenizer(format!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let has = |t: &str| inner.token_to_id(t).is_some();
        let chat = match ChatTemplate::load(dir, &has)? {
            None => None,
            Some(template) => {
                let id = |t: &str| {
                    inner.token_to_id(t).ok_or_else(|| {
                        VlmError::Tokenizer(format!("{}: no token `{t}`", path.display()))
                    })
                };
                Some(Chat {
                    image_id: id(&template.image_token)?,
                    end_id: id(&template.eos_token)?,
                    compiled: std::sync::Arc::new(template.compile()?),
                    template,
                })
            }
        };
        let tokenizer = VlmTokenizer { inner, chat };
        if tokenizer.chat.is_none() {
            tokenizer.check_specials()?;
        }
        Ok(tokenizer)
    }

    /// Write `tokenizer.json` (and, for a checkpoint's tokenizer, its chat format as
    /// `tokenizer_config.json` beside it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let err =
            |e: &dyn std::fmt::Display| VlmError::Tokenizer(format!("{}: {e}", path.display()));
        self.inner.save(path, false).map_err(|e| err(&e))?;
        if let Some(chat) = &self.chat {
            let config = path
                .parent()
                .unwrap_or(Path::new("."))
                .join(TOKENIZER_CONFIG_FILE);
            let text =
                serde_json::to_string_pretty(&chat.template.to_config()).map_err(|e| err(&e))?;
            std::fs::write(&config, text + "\n").map_err(|e| VlmError::io(&config, e))?;
        }
        Ok(())
    }

    /// The checkpoint's chat template; `None` for s2h's own tokenizers.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref().map(|c| &c.template)
    }

    /// The prefill of a single-turn prompt, image placeholder not yet expanded: s2h's
    /// `<s> <|user|> prompt <|assistant|>`, or the checkpoint's template with `prompt` as the
    /// user's message and the assistant's turn opened. s2h's placeholder `<image>` stands for the
    /// checkpoint's image token.
    pub fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>> {
        let Some(chat) = &self.chat else {
            let mut ids = vec![special::BOS_ID, special::USER_ID];
            ids.extend(self.encode(prompt)?);
            ids.push(special::ASSISTANT_ID);
            return Ok(ids);
        };
        let content = prompt.replace(special::IMAGE, &chat.template.image_token);
        self.apply_chat_template(&[ChatMessage::new("user", &content)], true)
    }

    /// A conversation in the checkpoint's chat template, as transformers' `apply_chat_template(…,
    /// tokenize=True)` gives it. s2h's own tokenizers have no template.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let chat = self.chat.as_ref().ok_or_else(|| {
            VlmError::Tokenizer("s2h's own tokenizers have no chat template".into())
        })?;
        self.encode(
            &chat
                .template
                .render_in(&chat.compiled, messages, add_generation_prompt)?,
        )
    }

    /// The token that ends an answer: training appends it, decoding stops at it (`</s>`, or the
    /// checkpoint's `eos_token`).
    pub fn end_id(&self) -> u32 {
        self.chat.as_ref().map_or(special::EOS_ID, |c| c.end_id)
    }

    fn check_specials(&self) -> Result<()> {
        for (i, s) in special::ALL.iter().enumerate() {
            if self.inner.token_to_id(s) != Some(i as u32) {
                return Err(VlmError::Tokenizer(format!(
                    "special token `{s}` must have id {i}, has {:?}",
                    self.inner.token_to_id(s)
                )));
            }
        }
        Ok(())
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The image placeholder's id (`<image>`, or the checkpoint's image token).
    pub fn image_id(&self) -> u32 {
        self.chat.as_ref().map_or(special::IMAGE_ID, |c| c.image_id)
    }

    /// Token ids of `text` (special tokens written in the text are recognised; no BOS/EOS added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
    }

    /// Token ids of `text` with the byte range of `text` each token covers (as [`Self::encode`]):
    /// what ties a span of a chain of thought to its tokens.
    pub fn encode_with_offsets(&self, text: &str) -> Result<Vec<(u32, std::ops::Range<usize>)>> {
        let encoding = self.inner.encode(text, false).map_err(tok_err)?;
        Ok(encoding
            .get_ids()
            .iter()
            .zip(encoding.get_offsets())
            .map(|(&id, &(start, end))| (id, start..end))
            .collect())
    }

    /// Text of `ids`; special tokens are dropped when `skip_special` is set.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(tok_err)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Vec<String> {
        [
            "Read the table. Answer: 12, 7 (sum 19)\n",
            "<image>\nRead the table. Answer: 3\n",
            "Go up, then left. Answer: 4\n",
            "| a & b | 1 & 2 |\n",
        ]
        .iter()
        .map(|s| s.repeat(3))
        .collect()
    }

    #[test]
    fn every_kind_round_trips_and_keeps_special_ids() {
        let words = vec!["Zyzzyva".to_string()];
        for kind in [
            TokenizerKind::WordLevel,
            TokenizerKind::Bpe { vocab_size: 300 },
            TokenizerKind::Compact,
        ] {
            let tok = VlmTokenizer::build(kind, &texts(), &words).unwrap();
            for text in texts().iter().chain(&["Read Zyzzyva 12 & 3.".to_string()]) {
                let ids = tok.encode(text).unwrap();
                assert!(
                    !ids.contains(&special::UNK_ID),
                    "{kind:?}: <unk> in {text:?}"
                );
                assert_eq!(&tok.decode(&ids, false).unwrap(), text, "{kind:?}");
            }
            let ids = tok.encode("<image>\n\nRead <|assistant|>").unwrap();
            assert_eq!(ids[0], special::IMAGE_ID);
            assert!(ids.contains(&special::ASSISTANT_ID));
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tokenizer.json");
            tok.save(&path).unwrap();
            let back = VlmTokenizer::from_file(&path).unwrap();
            for text in texts() {
                assert_eq!(back.encode(&text).unwrap(), tok.encode(&text).unwrap());
            }
        }
    }

    /// A given word is one token even though the corpus never shows it; a word neither given
    /// nor seen is `<unk>` for word-level, while BPE spells it from bytes.
    #[test]
    fn given_words_are_tokens_and_unseen_ones_unk_for_word_level_only() {
        let words = vec!["Zyzzyva".to_string()];
        let word = VlmTokenizer::build(TokenizerKind::WordLevel, &texts(), &words).unwrap();
        assert_eq!(word.encode("Zyzzyva").unwrap().len(), 1);
        assert_eq!(word.encode("Quokka").unwrap(), vec![special::UNK_ID]);
        let without = VlmTokenizer::build(TokenizerKind::WordLevel, &texts(), &[]).unwrap();
        assert_eq!(without.encode("Zyzzyva").unwrap(), vec![special::UNK_ID]);
        let bpe =
            VlmTokenizer::build(TokenizerKind::Bpe { vocab_size: 300 }, &texts(), &[]).unwrap();
        assert_eq!(
            bpe.decode(&bpe.encode("Quokka").unwrap(), false).unwrap(),
            "Quokka"
        );
    }

    #[test]
    fn kinds_serialise_as_the_run_configuration_writes_them() {
        for (kind, json) in [
            (TokenizerKind::WordLevel, r#""word""#),
            (TokenizerKind::Compact, r#""compact""#),
            (
                TokenizerKind::Bpe { vocab_size: 1024 },
                r#"{"bpe":{"vocab_size":1024}}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), json);
            assert_eq!(serde_json::from_str::<TokenizerKind>(json).unwrap(), kind);
        }
    }
}
