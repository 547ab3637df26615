//! Record → model inputs: token ids in the chat template, the image as a normalised tensor, and
//! a loss mask that selects the target tokens of chosen segment kinds.
//!
//! Template: `<s> <|user|> prompt <|assistant|> segment… </s>`. The prompt's `<image>`
//! placeholder is expanded to one `<image>` token per image feature. Each segment is tokenized on
//! its own, so every token belongs to exactly one segment; `</s>` belongs to the last segment.

use std::path::Path;

use burn::prelude::*;
use s2h_mixture::{Record, SegmentKind};

use crate::config::VlmConfig;
use crate::tokenizer::{VlmTokenizer, special};
use crate::{Result, VlmError};

/// Every target segment kind: the default loss selection.
pub const ALL_TARGETS: [SegmentKind; 4] = [
    SegmentKind::ConvertPrompt,
    SegmentKind::ConvertedText,
    SegmentKind::Cot,
    SegmentKind::Answer,
];

/// One record, tokenized.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRecord {
    pub id: String,
    pub input_ids: Vec<u32>,
    /// `loss_mask[t]`: token `t` is a target the model is trained to predict (from position t-1).
    pub loss_mask: Vec<bool>,
    /// The segment each token belongs to (`None` for the prompt and template tokens).
    pub segments: Vec<Option<SegmentKind>>,
    /// `[3, size, size]` pixels, normalised to [-1, 1], row-major.
    pub image: Option<Vec<f32>>,
    /// Tokens before the assistant's first target token (the prefill at inference).
    pub prompt_len: usize,
}

/// A padded batch. Padding is on the right with `<pad>` and masked out of the loss; with causal
/// attention real tokens never see the padding after them.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    pub ids: Vec<String>,
    pub input_ids: Tensor<B, 2, Int>,
    /// 1.0 on target tokens, 0.0 elsewhere (padding included).
    pub loss_mask: Tensor<B, 2>,
    /// `[batch, 3, size, size]` when any record has an image (zeros for those without).
    pub images: Option<Tensor<B, 4>>,
    pub lengths: Vec<usize>,
}

/// Turns records into model inputs for one model configuration.
#[derive(Debug, Clone)]
pub struct Processor {
    pub tokenizer: VlmTokenizer,
    pub image_size: usize,
    pub n_image_tokens: usize,
    pub max_seq_len: usize,
}

impl Processor {
    pub fn new(tokenizer: VlmTokenizer, config: &VlmConfig) -> Self {
        Processor {
            tokenizer,
            image_size: config.image_size(),
            n_image_tokens: config.n_image_tokens(),
            max_seq_len: config.decoder.max_seq_len,
        }
    }

    /// Tokenize `record`; its image (if any) is read from `data_dir`. `targets` selects the
    /// segment kinds whose tokens enter the loss ([`ALL_TARGETS`] by default).
    pub fn encode(
        &self,
        record: &Record,
        data_dir: &Path,
        targets: &[SegmentKind],
    ) -> Result<EncodedRecord> {
        let mut encoded = self.tokenize(record, targets)?;
        if let Some(rel) = &record.image {
            encoded.image = Some(self.load_image(&data_dir.join(rel))?);
        }
        Ok(encoded)
    }

    /// [`Processor::encode`] without reading the image: the ids (placeholder expanded when the
    /// record has an image) and masks, with `image: None`. Checks a whole dataset cheaply.
    pub fn tokenize(&self, record: &Record, targets: &[SegmentKind]) -> Result<EncodedRecord> {
        let rec_err = |message: String| VlmError::Record {
            id: record.id.clone(),
            message,
        };
        let mut input_ids = self
            .prompt_ids(&record.prompt, record.image.is_some())
            .map_err(|e| match e {
                VlmError::Tokenizer(m) | VlmError::InvalidConfig(m) => rec_err(m),
                other => other,
            })?;
        let prompt_len = input_ids.len();
        let mut segments = vec![None; prompt_len];
        for segment in &record.segments {
            let ids = self.tokenizer.encode(&segment.text)?;
            if ids.contains(&special::IMAGE_ID) {
                return Err(rec_err("a target segment contains `<image>`".into()));
            }
            segments.extend(std::iter::repeat_n(Some(segment.kind), ids.len()));
            input_ids.extend(ids);
        }
        input_ids.push(special::EOS_ID);
        segments.push(record.segments.last().map(|s| s.kind));
        if input_ids.len() > self.max_seq_len {
            return Err(VlmError::RecordTooLong {
                id: record.id.clone(),
                len: input_ids.len(),
                max: self.max_seq_len,
            });
        }
        let loss_mask = segments
            .iter()
            .map(|s| s.is_some_and(|k| targets.contains(&k)))
            .collect();
        Ok(EncodedRecord {
            id: record.id.clone(),
            input_ids,
            loss_mask,
            segments,
            image: None,
            prompt_len,
        })
    }

    /// `<s> <|user|> prompt <|assistant|>` with the image placeholder expanded; the prefill of
    /// generation. `has_image` says whether an image comes with the prompt.
    pub fn prompt_ids(&self, prompt: &str, has_image: bool) -> Result<Vec<u32>> {
        let prompt_ids = self.tokenizer.encode(prompt)?;
        let placeholders = prompt_ids
            .iter()
            .filter(|&&t| t == special::IMAGE_ID)
            .count();
        match (has_image, placeholders) {
            (false, 0) => {}
            (true, 1) if self.n_image_tokens > 0 => {}
            (true, 1) => {
                return Err(VlmError::InvalidConfig(
                    "the record has an image but the model has no vision tower".into(),
                ));
            }
            (true, n) => {
                return Err(VlmError::InvalidConfig(format!(
                    "an image prompt needs exactly one `<image>` placeholder, found {n}"
                )));
            }
            (false, n) => {
                return Err(VlmError::InvalidConfig(format!(
                    "the prompt has {n} `<image>` placeholder(s) but no image"
                )));
            }
        }
        let mut ids = vec![special::BOS_ID, special::USER_ID];
        for t in prompt_ids {
            if t == special::IMAGE_ID {
                ids.extend(std::iter::repeat_n(special::IMAGE_ID, self.n_image_tokens));
            } else {
                ids.push(t);
            }
        }
        ids.push(special::ASSISTANT_ID);
        Ok(ids)
    }

    /// Read a PNG (or any format `image` decodes), convert to RGB, resize to the model's square
    /// resolution and normalise each channel to [-1, 1]; `[3, size, size]` row-major.
    pub fn load_image(&self, path: &Path) -> Result<Vec<f32>> {
        let img_err = |message: String| VlmError::Image {
            path: path.to_path_buf(),
            message,
        };
        if self.image_size == 0 {
            return Err(img_err("the model has no vision tower".into()));
        }
        let img = image::open(path)
            .map_err(|e| img_err(e.to_string()))?
            .to_rgb8();
        let size = self.image_size as u32;
        let img = image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle);
        let plane = (size * size) as usize;
        let mut out = vec![0.0f32; 3 * plane];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = px.0[c] as f32 / 127.5 - 1.0;
            }
        }
        Ok(out)
    }

    /// Pad and stack encoded records into tensors on `device`.
    pub fn batch<B: Backend>(
        &self,
        records: &[EncodedRecord],
        device: &B::Device,
    ) -> Result<Batch<B>> {
        if records.is_empty() {
            return Err(VlmError::InvalidConfig("cannot batch zero records".into()));
        }
        let b = records.len();
        let t = records.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
        let mut ids = vec![special::PAD_ID as i64; b * t];
        let mut mask = vec![0.0f32; b * t];
        for (row, r) in records.iter().enumerate() {
            for (j, (&id, &m)) in r.input_ids.iter().zip(&r.loss_mask).enumerate() {
                ids[row * t + j] = id as i64;
                mask[row * t + j] = if m { 1.0 } else { 0.0 };
            }
        }
        let images = if records.iter().any(|r| r.image.is_some()) {
            let s = self.image_size;
            let plane = 3 * s * s;
            let mut pixels = vec![0.0f32; b * plane];
            for (row, r) in records.iter().enumerate() {
                if let Some(img) = &r.image {
                    if img.len() != plane {
                        return Err(VlmError::Record {
                            id: r.id.clone(),
                            message: format!("image has {} values, expected {plane}", img.len()),
                        });
                    }
                    pixels[row * plane..(row + 1) * plane].copy_from_slice(img);
                }
            }
            Some(Tensor::from_data(
                TensorData::new(pixels, [b, 3, s, s]),
                device,
            ))
        } else {
            None
        };
        Ok(Batch {
            ids: records.iter().map(|r| r.id.clone()).collect(),
            input_ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
            loss_mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
            images,
            lengths: records.iter().map(|r| r.input_ids.len()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{TokenizerKind, corpus};
    use s2h_mixture::{DatasetSpec, Supervision, read_records, write_dataset};
    use s2h_render::ImageOptions;
    use s2h_tasks::{Split, TaskConfig, TaskKind};

    type B = burn::backend::Flex;

    fn dataset(dir: &Path, supervision: Supervision) -> Vec<Record> {
        let mut spec = DatasetSpec::new(TaskKind::Ctr, Split::Simple, 3, 2, supervision);
        spec.image = ImageOptions {
            width: 150,
            height: 80,
            font_scale: 1.0,
        };
        write_dataset(&spec, dir, true, &|| {}).unwrap();
        read_records(dir).unwrap()
    }

    fn processor() -> Processor {
        let texts = corpus(&TaskConfig::default(), 1, 0).unwrap();
        let tok = VlmTokenizer::build(TokenizerKind::WordLevel, &texts).unwrap();
        let config = VlmConfig::tiny().with_vocab(&tok);
        Processor::new(tok, &config)
    }

    /// The masked tokens decode to exactly the chosen segments' texts (and `</s>` with the last).
    #[test]
    fn loss_mask_covers_exactly_the_chosen_segments() {
        let dir = tempfile::tempdir().unwrap();
        let records = dataset(dir.path(), Supervision::ImageViaText);
        let p = processor();
        let record = &records[0];
        let choices: Vec<Vec<SegmentKind>> = vec![
            ALL_TARGETS.to_vec(),
            vec![SegmentKind::ConvertedText],
            vec![SegmentKind::Cot, SegmentKind::Answer],
            vec![SegmentKind::ConvertPrompt],
            vec![],
        ];
        for chosen in choices {
            let enc = p.encode(record, dir.path(), &chosen).unwrap();
            assert_eq!(enc.input_ids.len(), enc.loss_mask.len());
            let masked: Vec<u32> = enc
                .input_ids
                .iter()
                .zip(&enc.loss_mask)
                .filter(|(_, m)| **m)
                .map(|(&t, _)| t)
                .collect();
            let mut expected: String = record
                .segments
                .iter()
                .filter(|s| chosen.contains(&s.kind))
                .map(|s| s.text.as_str())
                .collect();
            if chosen.contains(&SegmentKind::Answer) {
                expected.push_str(special::EOS);
            }
            assert_eq!(
                p.tokenizer.decode(&masked, false).unwrap(),
                expected,
                "{chosen:?}"
            );
            // Nothing before the assistant turn is ever a target.
            assert!(enc.loss_mask[..enc.prompt_len].iter().all(|m| !m));
        }
        let enc = p.encode(record, dir.path(), &ALL_TARGETS).unwrap();
        let n_image = enc
            .input_ids
            .iter()
            .filter(|&&t| t == special::IMAGE_ID)
            .count();
        assert_eq!(n_image, p.n_image_tokens);
        let image = enc.image.as_ref().unwrap();
        assert_eq!(image.len(), 3 * p.image_size * p.image_size);
        assert!(image.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(enc.input_ids[enc.prompt_len - 1], special::ASSISTANT_ID);
    }

    #[test]
    fn too_long_record_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let records = dataset(dir.path(), Supervision::Text);
        let mut p = processor();
        p.max_seq_len = 50;
        match p.encode(&records[1], dir.path(), &ALL_TARGETS) {
            Err(VlmError::RecordTooLong { id, len, max }) => {
                assert_eq!(id, records[1].id);
                assert!(len > max);
            }
            other => panic!("expected RecordTooLong, got {other:?}"),
        }
    }

    #[test]
    fn batching_pads_right_and_masks_padding() {
        let dir = tempfile::tempdir().unwrap();
        let text = dataset(&dir.path().join("t"), Supervision::Text);
        let image = dataset(&dir.path().join("i"), Supervision::Image);
        let p = processor();
        let a = p
            .encode(&text[0], &dir.path().join("t"), &ALL_TARGETS)
            .unwrap();
        let b = p
            .encode(&image[0], &dir.path().join("i"), &ALL_TARGETS)
            .unwrap();
        let batch = p
            .batch::<B>(&[a.clone(), b.clone()], &Default::default())
            .unwrap();
        let t = a.input_ids.len().max(b.input_ids.len());
        assert_eq!(batch.input_ids.dims(), [2, t]);
        assert_eq!(batch.lengths, vec![a.input_ids.len(), b.input_ids.len()]);
        let ids: Vec<i64> = batch
            .input_ids
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        let mask: Vec<f32> = batch
            .loss_mask
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap();
        for (row, enc) in [&a, &b].into_iter().enumerate() {
            for j in 0..t {
                let (id, m) = (ids[row * t + j], mask[row * t + j]);
                if j < enc.input_ids.len() {
                    assert_eq!(id, enc.input_ids[j] as i64);
                    assert_eq!(m, if enc.loss_mask[j] { 1.0 } else { 0.0 });
                } else {
                    assert_eq!((id, m), (special::PAD_ID as i64, 0.0));
                }
            }
        }
        let images = batch.images.unwrap();
        assert_eq!(images.dims(), [2, 3, p.image_size, p.image_size]);
        // The text-only row has a blank image.
        let first: f32 = images.narrow(0, 0, 1).abs().sum().into_scalar();
        assert_eq!(first, 0.0);
        // A text record carries no image and no image tokens.
        assert!(a.image.is_none() && !a.input_ids.contains(&special::IMAGE_ID));
    }

    #[test]
    fn image_record_without_vision_tower_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let records = dataset(dir.path(), Supervision::Image);
        let mut p = processor();
        p.n_image_tokens = 0;
        assert!(p.encode(&records[0], dir.path(), &ALL_TARGETS).is_err());
    }
}
