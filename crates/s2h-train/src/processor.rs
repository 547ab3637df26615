//! Record → model inputs: token ids in the chat template, the image as bytes at the model's
//! resolution, and a loss mask that selects the target tokens of chosen segment kinds. This is
//! where data meets the model: the model crate knows no record, the data crates no token.
//!
//! Template: `<s> <|user|> prompt <|assistant|> segment… </s>`. The prompt's `<image>`
//! placeholder is expanded to one `<image>` token per image feature. Each segment is tokenized on
//! its own, so every token belongs to exactly one segment; `</s>` belongs to the last segment.

use std::path::Path;

use s2h_mixture::{Record, SegmentKind};
use s2h_vlm::{BatchRow, Prompt, VlmConfig, VlmTokenizer};

use crate::{Result, TrainError};

/// Every target segment kind: the default loss selection.
pub const ALL_TARGETS: [SegmentKind; 4] = [
    SegmentKind::ConvertPrompt,
    SegmentKind::ConvertedText,
    SegmentKind::Cot,
    SegmentKind::Answer,
];

/// One record, tokenized. Its image stays on disk until a batch needs it, so a whole dataset can
/// be tokenized and checked cheaply.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRecord {
    pub id: String,
    pub input_ids: Vec<u32>,
    /// `loss_mask[t]`: token `t` is a target the model is trained to predict (from position t-1).
    pub loss_mask: Vec<bool>,
    /// The segment each token belongs to (`None` for the prompt and template tokens).
    pub segments: Vec<Option<SegmentKind>>,
    /// Tokens before the assistant's first target token (the prefill at inference).
    pub prompt_len: usize,
    /// The record's image, relative to its dataset directory.
    pub image: Option<String>,
}

impl EncodedRecord {
    /// Tokens the loss scores (targets after the first position).
    pub fn n_targets(&self) -> usize {
        self.loss_mask.iter().skip(1).filter(|m| **m).count()
    }

    /// The record as a batch row, with its image bytes when it has an image.
    pub fn row<'a>(&'a self, image: Option<&'a [u8]>) -> BatchRow<'a> {
        BatchRow {
            ids: &self.input_ids,
            loss_mask: Some(&self.loss_mask),
            image,
        }
    }
}

/// Turns records into model inputs for one model configuration.
#[derive(Debug, Clone)]
pub struct Processor {
    pub tokenizer: VlmTokenizer,
    pub image_size: usize,
    pub n_image_tokens: usize,
    pub max_seq_len: usize,
    /// Non-square images are padded to a square with this colour before resizing (Eagle's
    /// `image_aspect_ratio: pad`); `None` stretches them to the square.
    pub pad_colour: Option<[u8; 3]>,
}

impl Processor {
    pub fn new(tokenizer: VlmTokenizer, config: &VlmConfig) -> Self {
        Processor {
            tokenizer,
            image_size: config.image_size(),
            n_image_tokens: config.n_image_tokens(),
            max_seq_len: config.decoder.max_seq_len,
            pad_colour: config
                .vision
                .as_ref()
                .filter(|v| v.pad_to_square)
                .map(|v| v.mean_colour()),
        }
    }

    /// Tokenize `record` without reading its image: the ids (placeholder expanded when the
    /// record has an image) and a loss mask over the segment kinds in `targets`
    /// ([`ALL_TARGETS`] by default).
    pub fn encode(&self, record: &Record, targets: &[SegmentKind]) -> Result<EncodedRecord> {
        let rec_err = |message: String| TrainError::Record {
            id: record.id.clone(),
            message,
        };
        let mut input_ids = self
            .prompt_ids(&record.prompt, record.image.is_some())
            .map_err(|e| rec_err(e.prompt_message()))?;
        let prompt_len = input_ids.len();
        let mut segments = vec![None; prompt_len];
        for segment in &record.segments {
            let ids = self.tokenizer.encode(&segment.text)?;
            if ids.contains(&self.tokenizer.image_id()) {
                return Err(rec_err("a target segment contains `<image>`".into()));
            }
            segments.extend(std::iter::repeat_n(Some(segment.kind), ids.len()));
            input_ids.extend(ids);
        }
        input_ids.push(self.tokenizer.end_id());
        segments.push(record.segments.last().map(|s| s.kind));
        if input_ids.len() > self.max_seq_len {
            return Err(TrainError::RecordTooLong {
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
            prompt_len,
            image: record.image.clone(),
        })
    }

    /// The prompt in the tokenizer's chat format (`<s> <|user|> prompt <|assistant|>` for s2h's
    /// own) with the image placeholder expanded; the prefill of generation. `has_image` says
    /// whether an image comes with the prompt.
    pub fn prompt_ids(&self, prompt: &str, has_image: bool) -> Result<Vec<u32>> {
        let image = self.tokenizer.image_id();
        let prompt_ids = self.tokenizer.prompt_ids(prompt)?;
        let placeholders = prompt_ids.iter().filter(|&&t| t == image).count();
        let bad = |m: String| Err(TrainError::Prompt(m));
        match (has_image, placeholders) {
            (false, 0) => {}
            (true, 1) if self.n_image_tokens > 0 => {}
            (true, 1) => {
                return bad("the record has an image but the model has no vision tower".into());
            }
            (true, n) => {
                return bad(format!(
                    "an image prompt needs exactly one `<image>` placeholder, found {n}"
                ));
            }
            (false, n) => {
                return bad(format!(
                    "the prompt has {n} `<image>` placeholder(s) but no image"
                ));
            }
        }
        let mut ids = Vec::with_capacity(prompt_ids.len() + self.n_image_tokens);
        for t in prompt_ids {
            if t == image {
                ids.extend(std::iter::repeat_n(image, self.n_image_tokens));
            } else {
                ids.push(t);
            }
        }
        Ok(ids)
    }

    /// The generation prompt of a record: its prompt in the chat template followed by
    /// `prefill` (text the assistant turn starts with, tokenized on its own as a training
    /// segment is; empty for none), with the record's image read from `data_dir`.
    pub fn prompt(&self, record: &Record, data_dir: &Path, prefill: &str) -> Result<Prompt> {
        let rec_err = |e: TrainError| match e {
            TrainError::Image { .. } => e,
            other => TrainError::Record {
                id: record.id.clone(),
                message: other.prompt_message(),
            },
        };
        let image = match &record.image {
            Some(rel) => Some(self.load_image(&data_dir.join(rel)).map_err(rec_err)?),
            None => None,
        };
        let mut input_ids = self
            .prompt_ids(&record.prompt, image.is_some())
            .map_err(rec_err)?;
        if !prefill.is_empty() {
            input_ids.extend(self.tokenizer.encode(prefill)?);
        }
        Ok(Prompt {
            id: record.id.clone(),
            input_ids,
            image,
        })
    }

    /// Read a PNG (or any format `image` decodes), convert to RGB and resize to the model's
    /// square resolution: `[3, size, size]` planar bytes, which [`s2h_vlm::batch`] normalises.
    pub fn load_image(&self, path: &Path) -> Result<Vec<u8>> {
        let img_err = |message: String| TrainError::Image {
            path: path.to_path_buf(),
            message,
        };
        if self.image_size == 0 {
            return Err(img_err("the model has no vision tower".into()));
        }
        let mut img = image::open(path)
            .map_err(|e| img_err(e.to_string()))?
            .to_rgb8();
        if let Some(colour) = self.pad_colour
            && img.width() != img.height()
        {
            // Centred on a square of the longer side, as Eagle's `expand2square`.
            let side = img.width().max(img.height());
            let mut square = image::RgbImage::from_pixel(side, side, image::Rgb(colour));
            let (x, y) = ((side - img.width()) / 2, (side - img.height()) / 2);
            image::imageops::replace(&mut square, &img, i64::from(x), i64::from(y));
            img = square;
        }
        let size = self.image_size as u32;
        let img = image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle);
        let plane = (size * size) as usize;
        let mut out = vec![0u8; 3 * plane];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = px.0[c];
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_mixture::{DatasetSpec, Supervision, read_records, write_dataset};
    use s2h_render::ImageOptions;
    use s2h_tasks::{Split, TaskConfig, TaskKind};
    use s2h_vlm::special;
    use s2h_vlm::{Padding, TokenizerKind};

    type B = s2h_vlm::burn::backend::Flex;

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
        let tok = crate::corpus::build_tokenizer(
            TokenizerKind::WordLevel,
            &TaskConfig::default(),
            1,
            0,
            &[],
        )
        .unwrap();
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
            let enc = p.encode(record, &chosen).unwrap();
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
        let enc = p.encode(record, &ALL_TARGETS).unwrap();
        let n_image = enc
            .input_ids
            .iter()
            .filter(|&&t| t == special::IMAGE_ID)
            .count();
        assert_eq!(n_image, p.n_image_tokens);
        assert_eq!(enc.image, record.image);
        let image = p
            .load_image(&dir.path().join(enc.image.as_ref().unwrap()))
            .unwrap();
        assert_eq!(image.len(), 3 * p.image_size * p.image_size);
        assert_eq!(enc.input_ids[enc.prompt_len - 1], special::ASSISTANT_ID);
        // The generation prompt is the encoding's prefill, with the same image.
        let prompt = p.prompt(record, dir.path(), "").unwrap();
        assert_eq!(prompt.input_ids, enc.input_ids[..enc.prompt_len]);
        assert_eq!(prompt.image.as_deref(), Some(&image[..]));
    }

    #[test]
    fn too_long_record_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let records = dataset(dir.path(), Supervision::Text);
        let mut p = processor();
        p.max_seq_len = 50;
        match p.encode(&records[1], &ALL_TARGETS) {
            Err(TrainError::RecordTooLong { id, len, max }) => {
                assert_eq!(id, records[1].id);
                assert!(len > max);
            }
            other => panic!("expected RecordTooLong, got {other:?}"),
        }
    }

    /// A text and an image record batch together: right padding, a blank image for the text row.
    #[test]
    fn text_and_image_records_batch_together() {
        let dir = tempfile::tempdir().unwrap();
        let text = dataset(&dir.path().join("t"), Supervision::Text);
        let image = dataset(&dir.path().join("i"), Supervision::Image);
        let p = processor();
        let a = p.encode(&text[0], &ALL_TARGETS).unwrap();
        let b = p.encode(&image[0], &ALL_TARGETS).unwrap();
        let pixels = p
            .load_image(&dir.path().join("i").join(b.image.as_ref().unwrap()))
            .unwrap();
        let rows = [a.row(None), b.row(Some(&pixels))];
        let batch =
            s2h_vlm::batch::batch::<B>(&rows, Padding::Right, p.image_size, &Default::default())
                .unwrap();
        let t = a.input_ids.len().max(b.input_ids.len());
        assert_eq!(batch.input_ids.dims(), [2, t]);
        assert_eq!(batch.n_targets, a.n_targets() + b.n_targets());
        let images = batch.images.unwrap();
        assert_eq!(images.dims(), [2, 3, p.image_size, p.image_size]);
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
        assert!(p.encode(&records[0], &ALL_TARGETS).is_err());
    }

    /// With `pad_to_square`, a wide image sits centred on a square of the mean colour (Eagle's
    /// `expand2square`) before the resize; without, it is stretched to the square.
    #[test]
    fn non_square_images_are_padded_with_the_mean_colour_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.png");
        // 8 × 2, white: padded to 8 × 8, only the middle rows are white.
        image::RgbImage::from_pixel(8, 2, image::Rgb([255, 255, 255]))
            .save(&path)
            .unwrap();
        let tok = crate::corpus::build_tokenizer(
            TokenizerKind::WordLevel,
            &TaskConfig::default(),
            1,
            0,
            &[],
        )
        .unwrap();
        let mut config = VlmConfig::tiny().with_vocab(&tok);
        let stretched = Processor::new(tok.clone(), &config)
            .load_image(&path)
            .unwrap();
        assert!(stretched.iter().all(|&b| b == 255), "stretched: all white");
        let vision = config.vision.as_mut().unwrap();
        vision.image_mean = s2h_vlm::CLIP_MEAN;
        vision.pad_to_square = true;
        let p = Processor::new(tok, &config);
        assert_eq!(p.pad_colour, Some([122, 116, 104]));
        let padded = p.load_image(&path).unwrap();
        let size = p.image_size;
        let red = |y: usize, x: usize| padded[y * size + x];
        assert_eq!(red(0, size / 2), 122, "top row is the mean colour");
        assert_eq!(red(size - 1, size / 2), 122, "bottom row too");
        assert_eq!(red(size / 2, size / 2), 255, "the image is in the middle");
    }
}
