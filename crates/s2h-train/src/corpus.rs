//! The words a run's tokenizer is built from: a corpus of every task's texts (prompts, chain of
//! thought, answers, the conversion prompt) and the labels and symbols a task can produce even if
//! the corpus never shows them. The model's tokenizer ([`VlmTokenizer::build`]) takes these as
//! given; what a task says lives here, in the layer that knows both.

use s2h_cot::{CONVERT_LINE, PromptInput};
use s2h_tasks::{TaskConfig, TaskKind};
use s2h_vlm::{TokenizerKind, VlmTokenizer};

use crate::{Result, TrainError};

/// Texts for the tokenizer: for every task and split, `per_set` instances rendered as text
/// prompt, image prompt, text rendering, chain of thought and answer, plus the conversion prompt.
pub fn corpus(tasks: &TaskConfig, per_set: u64, seed: u64) -> Result<Vec<String>> {
    let mut texts = vec![CONVERT_LINE.to_string()];
    for &task in TaskKind::ALL {
        for &split in task.splits() {
            for index in 0..per_set {
                let instance = tasks
                    .generate(task, split, seed, index)
                    .map_err(|e| TrainError::Config(format!("tokenizer corpus: {e}")))?;
                let text = s2h_render::render_text(&instance, &Default::default());
                texts.push(s2h_cot::prompt(&instance, PromptInput::Text(&text)));
                texts.push(s2h_cot::prompt(&instance, PromptInput::Image));
                texts.push(format!("{}\n", s2h_cot::chain_of_thought(&instance)));
                texts.push(s2h_cot::answer_text(&instance.gold_answer()));
            }
        }
    }
    Ok(texts)
}

/// Words and symbols every task can produce, whether or not a corpus happens to show them:
/// months, product names, digit words, grid objects and obstacles (names and glyphs), digits.
pub fn task_words() -> Vec<String> {
    let grid = s2h_tasks::grid::OBJECTS
        .iter()
        .chain(s2h_tasks::grid::OBSTACLES.iter());
    s2h_tasks::labels::MONTHS
        .iter()
        .map(|s| s.to_string())
        .chain(s2h_tasks::labels::product_names())
        .chain(s2h_tasks::labels::DIGIT_WORDS.iter().map(|s| s.to_string()))
        .chain(grid.clone().map(|(name, _)| name.to_string()))
        .chain(grid.map(|(_, glyph)| glyph.to_string()))
        .chain((0..10).map(|d| d.to_string()))
        .collect()
}

/// A tokenizer for the tasks: built from [`corpus`] (`per_set` instances per task and split
/// with `seed`) plus `extra` texts (e.g. a run's training records), and [`task_words`].
pub fn build_tokenizer(
    kind: TokenizerKind,
    tasks: &TaskConfig,
    per_set: u64,
    seed: u64,
    extra: &[String],
) -> Result<VlmTokenizer> {
    let mut texts = corpus(tasks, per_set, seed)?;
    texts.extend_from_slice(extra);
    Ok(VlmTokenizer::build(kind, &texts, &task_words())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_vlm::special;

    fn build(kind: TokenizerKind, per_set: u64) -> VlmTokenizer {
        build_tokenizer(kind, &TaskConfig::default(), per_set, 0, &[]).unwrap()
    }

    /// The prompts' image placeholder is the model's image token: one string in two crates.
    #[test]
    fn the_prompt_placeholder_is_the_model_image_token() {
        assert_eq!(s2h_cot::IMAGE_PLACEHOLDER, special::IMAGE);
        let tok = build(TokenizerKind::Compact, 1);
        assert_eq!(
            tok.encode(s2h_cot::IMAGE_PLACEHOLDER).unwrap(),
            vec![special::IMAGE_ID]
        );
    }

    #[test]
    fn every_kind_round_trips_task_texts_without_unk() {
        let held_out = corpus(&TaskConfig::default(), 1, 99).unwrap();
        for kind in [
            TokenizerKind::WordLevel,
            TokenizerKind::Bpe { vocab_size: 1024 },
            TokenizerKind::Compact,
        ] {
            let tok = build(kind, 2);
            assert!(
                tok.vocab_size() <= s2h_vlm::config::PRESET_VOCAB,
                "{kind:?}: {}",
                tok.vocab_size()
            );
            for text in corpus(&TaskConfig::default(), 2, 0)
                .unwrap()
                .iter()
                .chain(&held_out)
            {
                let ids = tok.encode(text).unwrap();
                assert!(
                    !ids.contains(&special::UNK_ID),
                    "{kind:?} has <unk> in {text:?}"
                );
                assert_eq!(&tok.decode(&ids, false).unwrap(), text, "{kind:?}");
            }
        }
    }

    /// Every label a task can produce is known to word-level tokenizers, seen or not: a product
    /// name absent from a 1-instance corpus still encodes without `<unk>`.
    #[test]
    fn task_words_cover_labels_the_corpus_does_not_show() {
        let tok = build(TokenizerKind::WordLevel, 1);
        for word in task_words() {
            let ids = tok.encode(&word).unwrap();
            assert!(!ids.contains(&special::UNK_ID), "<unk> in {word:?}");
        }
    }

    #[test]
    fn bpe_gives_shorter_sequences_than_word_level() {
        let held_out = corpus(&TaskConfig::default(), 2, 7).unwrap();
        let count = |tok: &VlmTokenizer| -> usize {
            held_out.iter().map(|t| tok.encode(t).unwrap().len()).sum()
        };
        let word = build(TokenizerKind::WordLevel, 2);
        let bpe_same = build(
            TokenizerKind::Bpe {
                vocab_size: word.vocab_size(),
            },
            2,
        );
        let bpe = build(TokenizerKind::Bpe { vocab_size: 1024 }, 2);
        let (w, s, b) = (count(&word), count(&bpe_same), count(&bpe));
        // Measured with these seeds: BPE is shorter than word-level at the same vocabulary size,
        // and more so at 1,024.
        assert!(
            b <= s && s < w,
            "word {w}, bpe same-vocab {s}, bpe 1024 {b}"
        );
    }

    /// Recurring sentences and punctuation runs become single tokens: table prompts shrink to
    /// under 60% (231 of 408 tokens for this one), and decode back to the exact text.
    #[test]
    fn compact_collapses_recurring_sentences() {
        let held_out = corpus(&TaskConfig::default(), 2, 7).unwrap();
        let word = build(TokenizerKind::WordLevel, 8);
        let compact = build(TokenizerKind::Compact, 8);
        let phrases = compact.inner().get_added_tokens_decoder().len() - special::ALL.len();
        assert!(phrases > 10 && phrases <= 256, "{phrases} phrase tokens");
        let instance = TaskConfig::default()
            .generate(TaskKind::Ctr, s2h_tasks::Split::Simple, 3, 0)
            .unwrap();
        let text = s2h_render::render_text(&instance, &Default::default());
        let prompt = s2h_cot::prompt(&instance, PromptInput::Text(&text));
        let (w, c) = (
            word.encode(&prompt).unwrap(),
            compact.encode(&prompt).unwrap(),
        );
        assert!(
            100 * c.len() < 60 * w.len(),
            "word {} compact {}",
            w.len(),
            c.len()
        );
        assert_eq!(compact.decode(&c, false).unwrap(), prompt);
        let total = |tok: &VlmTokenizer| -> usize {
            held_out.iter().map(|t| tok.encode(t).unwrap().len()).sum()
        };
        assert!(total(&compact) < total(&word));
    }
}
