//! Seeded random projection of gradients to a few thousand dimensions (TRAK / LESS; the paper's
//! footnote 9 and `docs/analysis.md`), on the CPU, without ever holding the `k × P` matrix.
//!
//! A gradient is a list of [`Named`] parts (one per parameter tensor). The projection is
//! `R g / √k`, where `R` has one row of `k` entries per parameter coordinate, ±1 ([Rademacher])
//! or N(0, 1) ([Gaussian]); the `1/√k` makes inner products and norms unbiased,
//! `E⟨Pu, Pv⟩ = ⟨u, v⟩` (TRAK stores `R g` unscaled; we scale so that cosines *and* norms read
//! directly).
//!
//! # The random matrix
//!
//! The row for coordinate `i` of the parameter called `name` is a pure function of
//! `(seed, name, i)`: a ChaCha8 stream keyed by a stable 64-bit FNV-1a hash of `(seed, name)`
//! (expanded to the 256-bit key by SplitMix64), read from word `i · words_per_row`. So the result
//! does not depend on the chunk size, the number of threads, or the order the parts are listed
//! in, and two gradients with different parameter sets still project consistently (a parameter
//! keeps its rows whatever else is listed).
//!
//! - Rademacher: one bit per entry. The row is `⌈k/64⌉` u64 words (`2⌈k/64⌉` ChaCha u32 words),
//!   read as the stream's little-endian bytes; entry `j` is bit `j mod 8` (least significant
//!   first) of byte `j / 8`; a set bit is −1, a clear bit +1.
//! - Gaussian: Box–Muller from pairs of u32 words. The row is `64⌈k/64⌉` ChaCha u32 words, taken
//!   16 at a time: words `a = w[16q + l]` and `b = w[16q + 8 + l]` (`l < 8`) give entries
//!   `16q + l = r cos θ` and `16q + 8 + l = r sin θ`, with `u₁ = ((a >> 8) + 1)/2²⁴ ∈ (0, 1]`,
//!   `r = √(−2 ln u₁)`, `θ = 2π (b >> 8)/2²⁴` (the tails stop at `|z| ≤ √(48 ln 2) ≈ 5.77`, a
//!   mass of 8·10⁻⁹). `ln`, `sin` and `cos` are polynomials in f32 (entries within 6·10⁻⁷ of
//!   the exact transform), so eight entries are made per vector instruction and the bits are the
//!   same on every platform.
//!
//! # Summation order
//!
//! Every output coordinate is a sum over the input coordinates in one fixed order — parameters
//! by name (byte order), then a parameter's coordinates in order — accumulated in f32 from +0.
//! Threads split the *output* coordinates, never the sum, so results are bit-identical for any
//! thread count, any chunk size and any order of the parts. [`Projector::project_many`] and
//! [`Projector::project_each`] give each gradient exactly (bit for bit) what
//! [`Projector::project`] gives it alone.
//!
//! # Cost
//!
//! `P · k` multiply-adds per gradient (`4096 P`: 6·10¹⁰ for P = 15M), plus generating the `P · k`
//! entries once per [`Projector::project_many`] call, shared by all its gradients: 1 ChaCha bit
//! per entry for Rademacher, 32 bits and a Box–Muller step for Gaussian. On x86-64 with AVX2
//! (detected at run time) the multiply-adds run 8 gradients × 8 columns per row read; elsewhere
//! 4 × 8, vectorised by the compiler. Measured on 2 cores (AMD EPYC, AVX2), k = 4096,
//! P = 10⁶, `benches/projection.rs`: Rademacher 0.15 s for one gradient alone, 0.054 s per
//! gradient in batches of 8 (one core: 0.26 s, 0.10 s); Gaussian 3.3 s and 0.51 s. Generation
//! dominates a lone gradient: project many per call.
//!
//! [Rademacher]: ProjectionKind::Rademacher
//! [Gaussian]: ProjectionKind::Gaussian

use std::collections::BTreeMap;
use std::ops::Range;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

/// Distribution of the entries of the random matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionKind {
    /// ±1 with probability ½ each (TRAK's `rademacher`, LESS's choice).
    Rademacher,
    /// Standard normal entries (TRAK's `normal`, its CPU fallback); 10–20× slower than
    /// Rademacher (32 random bits and a Box–Muller step per entry).
    Gaussian,
}

/// One parameter's part of a gradient, named by its module path
/// (e.g. `"decoder.layers.0.attn.q_proj.weight"`).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub name: &'a str,
    pub values: &'a [f32],
}

/// What can go wrong building a projector or checking gradients' layouts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error("the projection dimension must be at least 1")]
    ZeroDim,
    #[error("gradient {index} does not have the parameters of gradient 0: {detail}")]
    LayoutMismatch { index: usize, detail: String },
}

/// A seeded random projection `g ↦ R g / √k` of named gradients (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projector {
    k: usize,
    seed: u64,
    kind: ProjectionKind,
    chunk_rows: usize,
}

/// Columns per row word and per accumulator tile: a row holds `64⌈k/64⌉` entries.
const TILE: usize = 64;

/// The most bytes of entries generated at once; larger chunks are lowered to fit (a Gaussian row
/// at k = 4096 is 16 KiB, so a chunk of P rows would not fit in memory).
const MAX_CHUNK_BYTES: usize = 64 << 20;

impl Projector {
    /// The paper's projection dimension (footnote 9, after TRAK).
    pub const DEFAULT_DIM: usize = 4096;
    /// Parameter coordinates whose rows are generated at once unless
    /// [`Projector::with_chunk_rows`] says otherwise (measured: 1–8 gradients, k = 4096).
    pub const DEFAULT_CHUNK_ROWS: usize = 1024;

    /// A projector to `k` dimensions; `k = 0` is an error.
    pub fn new(k: usize, seed: u64, kind: ProjectionKind) -> Result<Self, ProjectionError> {
        if k == 0 {
            return Err(ProjectionError::ZeroDim);
        }
        Ok(Self {
            k,
            seed,
            kind,
            chunk_rows: Self::DEFAULT_CHUNK_ROWS,
        })
    }

    /// Parameter coordinates whose rows are generated at once (0 counts as 1; lowered so a chunk
    /// holds at most 64 MiB of entries). A performance knob only: results are bit-identical for
    /// every value.
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// The projection dimension `k`.
    pub fn dim(&self) -> usize {
        self.k
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn kind(&self) -> ProjectionKind {
        self.kind
    }

    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// `R g / √k`: entries ±1 (Rademacher) or N(0,1) (Gaussian), scaled so `E⟨Pu, Pv⟩ = ⟨u, v⟩`.
    ///
    /// Parts may come in any order. A name listed twice contributes both parts with that name's
    /// rows (as if they had been added elementwise); empty parts contribute nothing; an empty
    /// gradient projects to zeros. Non-finite values make every output coordinate non-finite.
    pub fn project(&self, gradient: &[Named<'_>]) -> Vec<f32> {
        // One gradient in, one out: `pop` cannot come back empty.
        self.project_each(std::slice::from_ref(&gradient))
            .pop()
            .unwrap_or_else(|| vec![0.0; self.k])
    }

    /// Several gradients with one layout at once, sharing each generated block (the cost that
    /// dominates): `result[i] == project(&gradients[i])`, bit for bit.
    ///
    /// Every gradient must list the same parameter names with the same lengths as the first (in
    /// any order; [`Projector::check_layouts`]): anything else is an error, since per-example
    /// gradients of one parameter set that differ point to a bug upstream. To project gradients
    /// of different layouts together, use [`Projector::project_each`].
    pub fn project_many<'a, G: AsRef<[Named<'a>]> + Sync>(
        &self,
        gradients: &[G],
    ) -> Result<Vec<Vec<f32>>, ProjectionError> {
        Self::check_layouts(gradients)?;
        Ok(self.project_each(gradients))
    }

    /// [`Projector::project_many`] of gradients held as one host vector per parameter, the
    /// parameters named by `names` in the same order for every gradient (what
    /// `FlatGrad::to_host` gives).
    pub fn project_parts(
        &self,
        names: &[&str],
        gradients: &[Vec<Vec<f32>>],
    ) -> Result<Vec<Vec<f32>>, ProjectionError> {
        let named: Vec<Vec<Named<'_>>> = gradients
            .iter()
            .map(|parts| {
                names
                    .iter()
                    .zip(parts)
                    .map(|(name, values)| Named { name, values })
                    .collect()
            })
            .collect();
        self.project_many(&named)
    }

    /// Like [`Projector::project_many`] without the layout check: each gradient is projected
    /// on its own terms (a parameter's rows depend only on its name and coordinate), whatever
    /// the others list, so `result[i] == project(&gradients[i])` bit for bit for any input.
    pub fn project_each<'a, G: AsRef<[Named<'a>]> + Sync>(&self, gradients: &[G]) -> Vec<Vec<f32>> {
        self.project_on(Isa::detect(), gradients)
    }

    /// [`Projector::project_each`] with the given vector instructions (tests compare them).
    fn project_on<'a, G: AsRef<[Named<'a>]> + Sync>(
        &self,
        isa: Isa,
        gradients: &[G],
    ) -> Vec<Vec<f32>> {
        match self.kind {
            ProjectionKind::Rademacher => self.run::<Signs, G>(isa, gradients),
            ProjectionKind::Gaussian => self.run::<Normals, G>(isa, gradients),
        }
    }

    /// Whether every gradient lists the same parameter names with the same lengths as the first
    /// (in any order; a name listed twice must be listed twice everywhere): the condition of
    /// [`Projector::project_many`].
    pub fn check_layouts<'a, G: AsRef<[Named<'a>]>>(
        gradients: &[G],
    ) -> Result<(), ProjectionError> {
        let layout = |g: &G| {
            let mut parts: Vec<(&str, usize)> = g
                .as_ref()
                .iter()
                .map(|p| (p.name, p.values.len()))
                .collect();
            parts.sort_unstable();
            parts
        };
        let Some(first) = gradients.first().map(layout) else {
            return Ok(());
        };
        for (index, g) in gradients.iter().enumerate().skip(1) {
            let other = layout(g);
            if other != first {
                let detail = match first.iter().zip(&other).find(|(a, b)| a != b) {
                    Some((a, b)) => {
                        format!("{} [{}] where gradient 0 has {} [{}]", b.0, b.1, a.0, a.1)
                    }
                    None => format!("{} parts where gradient 0 has {}", other.len(), first.len()),
                };
                return Err(ProjectionError::LayoutMismatch { index, detail });
            }
        }
        Ok(())
    }

    fn run<'a, K: Entries, G: AsRef<[Named<'a>]> + Sync>(
        &self,
        isa: Isa,
        gradients: &[G],
    ) -> Vec<Vec<f32>> {
        let n = gradients.len();
        if n == 0 {
            return Vec::new();
        }
        let cols = self.k.div_ceil(TILE) * TILE;
        let row_len = K::row_len(cols);
        let words_per_row = K::words_per_row(cols);
        let row_size = row_len * size_of::<K::Elem>();
        let chunk_rows = self.chunk_rows.min((MAX_CHUNK_BYTES / row_size).max(1));
        let segments = segments(self.seed, gradients);

        // acc[(tile · n + gradient) · TILE + column in tile]: a thread owns whole tiles.
        let mut acc = vec![0.0f32; cols * n];
        // On a worker thread the two parallel steps per chunk are cheap forks; from outside the
        // pool each would be a round trip through its queue.
        rayon::scope(|_| {
            let mut entries = Vec::new();
            for chunk in Chunks::new(&segments, chunk_rows) {
                let rows: usize = chunk.iter().map(|p| p.rows).sum();
                entries.clear();
                entries.resize(rows * row_len, K::Elem::default());
                generate::<K>(isa, &segments, &chunk, &mut entries, row_len, words_per_row);
                let groups = lane_groups(&segments, &chunk, isa.max_lanes());
                apply::<K>(isa, &entries, row_len, &groups, &mut acc, n);
            }
        });

        let scale = 1.0 / (self.k as f32).sqrt();
        (0..n)
            .map(|g| {
                (0..self.k)
                    .map(|j| acc[((j / TILE) * n + g) * TILE + j % TILE] * scale)
                    .collect()
            })
            .collect()
    }
}

/// How one kind of entry is generated and read.
trait Entries {
    /// What a row is stored as: bits (in bytes) or normals.
    type Elem: Copy + Default + Send + Sync;
    /// Elements per row of `cols` columns (a multiple of 64).
    fn row_len(cols: usize) -> usize;
    /// ChaCha u32 words per row of `cols` columns.
    fn words_per_row(cols: usize) -> u128;
    /// Fills whole rows from the stream's current position.
    fn fill(isa: Isa, rng: &mut ChaCha8Rng, out: &mut [Self::Elem], scratch: &mut Vec<u8>);
    /// The elements of a row holding columns `col..col + w` (multiples of 8).
    fn cols(col: usize, w: usize) -> Range<usize>;
    /// Columns `8b..8b + 8` from such elements.
    fn part(cols: &[Self::Elem], b: usize) -> [f32; 8];
}

/// Rademacher: a row is `cols / 8` bytes of the stream; column `j` is bit `j mod 8` of byte
/// `j / 8`, set = −1.
struct Signs;

/// ±1 for each bit of a byte (set = −1), least significant bit first.
static SIGNS: [[f32; 8]; 256] = {
    let mut table = [[1.0f32; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            if (byte >> bit) & 1 == 1 {
                table[byte][bit] = -1.0;
            }
            bit += 1;
        }
        byte += 1;
    }
    table
};

impl Entries for Signs {
    type Elem = u8;
    fn row_len(cols: usize) -> usize {
        cols / 8
    }
    fn words_per_row(cols: usize) -> u128 {
        cols as u128 / 32
    }
    fn fill(_: Isa, rng: &mut ChaCha8Rng, out: &mut [u8], _: &mut Vec<u8>) {
        rng.fill_bytes(out);
    }
    #[inline(always)]
    fn cols(col: usize, w: usize) -> Range<usize> {
        // `start + w / 8`, not `(col + w) / 8`: LLVM then knows the length and drops the
        // bounds checks in the loop.
        col / 8..col / 8 + w / 8
    }
    #[inline(always)]
    fn part(cols: &[u8], b: usize) -> [f32; 8] {
        SIGNS[cols[b] as usize]
    }
}

/// Gaussian: a row is `cols` u32 words of the stream, turned into `cols` normals pair by pair
/// (Box–Muller, module docs).
struct Normals;

impl Entries for Normals {
    type Elem = f32;
    fn row_len(cols: usize) -> usize {
        cols
    }
    fn words_per_row(cols: usize) -> u128 {
        cols as u128
    }
    fn fill(isa: Isa, rng: &mut ChaCha8Rng, out: &mut [f32], scratch: &mut Vec<u8>) {
        // 1024 normals at a time (4 KiB of words): the stream is contiguous, so how it is cut
        // does not matter as long as each piece is whole pairs (rows are multiples of 64).
        for piece in out.chunks_mut(1024) {
            scratch.resize(piece.len() * 4, 0);
            rng.fill_bytes(scratch);
            box_muller(isa, scratch, piece);
        }
    }
    #[inline(always)]
    fn cols(col: usize, w: usize) -> Range<usize> {
        col..col + w
    }
    #[inline(always)]
    fn part(cols: &[f32], b: usize) -> [f32; 8] {
        let c = &cols[8 * b..8 * b + 8];
        [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
    }
}

/// Words (little-endian bytes) to standard normals, 16 at a time (module docs), vectorised for
/// this CPU.
fn box_muller(isa: Isa, words: &[u8], out: &mut [f32]) {
    match isa {
        Isa::Baseline => box_muller_body(words, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only `Isa::detect` makes `Isa::Avx2`, after finding AVX2 on this CPU.
        Isa::Avx2 => unsafe { box_muller_avx2(words, out) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn box_muller_avx2(words: &[u8], out: &mut [f32]) {
    box_muller_body(words, out);
}

#[inline(always)]
fn box_muller_body(words: &[u8], out: &mut [f32]) {
    for (w, z) in words.chunks_exact(64).zip(out.chunks_exact_mut(16)) {
        let mut u = [0u32; 16];
        for (u, b) in u.iter_mut().zip(w.chunks_exact(4)) {
            *u = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let (cos, sin) = z.split_at_mut(8);
        box_muller8(&u, cos, sin);
    }
}

/// Eight Box–Muller pairs: words `a = u[l]`, `b = u[8 + l]` give `r cos θ` and `r sin θ` with
/// `r = √(−2 ln u₁)`, `u₁ = ((a >> 8) + 1)/2²⁴`, `θ = 2π (b >> 8)/2²⁴`.
///
/// `ln`, `sin` and `cos` are polynomials here (entries within 6·10⁻⁷ of the exact transform,
/// `box_muller_is_accurate`), not libm calls: eight lanes per instruction, and the same bits on
/// every platform (only `+ − × ÷ √` and integer operations, all exact or correctly rounded, no
/// fused multiply-add).
#[inline(always)]
fn box_muller8(u: &[u32; 16], cos_out: &mut [f32], sin_out: &mut [f32]) {
    const LN_2: f32 = std::f32::consts::LN_2;
    const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
    // `while`, not `for … in 0..8`: no iterator calls in unoptimised test builds.
    let mut l = 0;
    while l < 8 {
        // ln u₁ = ln v − 24 ln 2, v = (a >> 8) + 1 ∈ [1, 2²⁴] exact in f32; v = m · 2^e with
        // m ∈ [√½, √2), ln m = 2 atanh t = 2(t + t³/3 + t⁵/5 + t⁷/7), t = (m − 1)/(m + 1),
        // |t| < 0.172 (next term below 4·10⁻⁸).
        let v = ((u[l] >> 8) + 1) as f32;
        let bits = v.to_bits();
        let big = (bits & 0x007f_ffff) > 0x0035_04f3; // mantissa above √2
        let e = (bits >> 23) as i32 - 127 + i32::from(big);
        let m = f32::from_bits((bits & 0x007f_ffff) | if big { 0x3f00_0000 } else { 0x3f80_0000 });
        let t = (m - 1.0) / (m + 1.0);
        let t2 = t * t;
        let ln_m = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0))));
        let ln_u1 = (e - 24) as f32 * LN_2 + ln_m;
        let r = (-2.0 * ln_u1).sqrt();

        // θ = 2π (q/4 + f): quadrant q = round(4 u₂) mod 4, f ∈ [−⅛, ⅛] exact from the integer;
        // sin, cos of φ = 2πf ∈ [−π/4, π/4] by Taylor to φ⁹ and φ⁸ (errors below 4·10⁻⁷).
        let b = (u[8 + l] >> 8) as i32;
        let q = (b + (1 << 21)) >> 22;
        let phi = (b - (q << 22)) as f32 * (TWO_POW_M24 * std::f32::consts::TAU);
        let p2 = phi * phi;
        let sin = phi
            * (1.0
                + p2 * (-1.0 / 6.0
                    + p2 * (1.0 / 120.0 + p2 * (-1.0 / 5040.0 + p2 * (1.0 / 362_880.0)))));
        let cos =
            1.0 + p2 * (-0.5 + p2 * (1.0 / 24.0 + p2 * (-1.0 / 720.0 + p2 * (1.0 / 40_320.0))));
        // Rotate by q quarter turns: (cos, sin) → (−sin, cos) → (−cos, −sin) → (sin, −cos).
        // Selects and sign flips, not a `match` (a jump table would stop the vectorising).
        let swap = q & 1 == 1;
        let (c, s) = if swap { (sin, cos) } else { (cos, sin) };
        let c_sign = (((q + 1) & 2) as u32) << 30; // quadrants 1, 2
        let s_sign = ((q & 2) as u32) << 30; // quadrants 2, 3
        let c = f32::from_bits(c.to_bits() ^ c_sign);
        let s = f32::from_bits(s.to_bits() ^ s_sign);
        cos_out[l] = r * c;
        sin_out[l] = r * s;
        l += 1;
    }
}

/// `(gradient, values)` pairs, in gradient order.
type Lanes<'a> = Vec<(usize, &'a [f32])>;

/// All parts with one `(name, occurrence)`: occurrence `o` is a gradient's `o`-th part with that
/// name (almost always 0).
struct Segment<'a> {
    key: [u8; 32],
    /// The longest part: the rows generated.
    len: usize,
    lanes: Lanes<'a>,
}

/// Groups the non-empty parts of all gradients by `(name, occurrence)`, in that order.
fn segments<'a, G: AsRef<[Named<'a>]>>(seed: u64, gradients: &[G]) -> Vec<Segment<'a>> {
    let mut by_name: BTreeMap<(&'a str, usize), Lanes<'a>> = BTreeMap::new();
    for (g, gradient) in gradients.iter().enumerate() {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for part in gradient.as_ref() {
            let occurrence = seen.entry(part.name).or_insert(0);
            if !part.values.is_empty() {
                by_name
                    .entry((part.name, *occurrence))
                    .or_default()
                    .push((g, part.values));
            }
            *occurrence += 1;
        }
    }
    by_name
        .into_iter()
        .map(|((name, _), lanes)| Segment {
            key: row_key(seed, name),
            len: lanes.iter().map(|(_, v)| v.len()).max().unwrap_or(0),
            lanes,
        })
        .collect()
}

/// The ChaCha key of a parameter's rows: FNV-1a 64 of the seed (little-endian) then the name
/// (std's hashers are not stable across releases), expanded to 256 bits by SplitMix64.
fn row_key(seed: u64, name: &str) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    for word in key.chunks_exact_mut(8) {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    key
}

/// Rows `start..start + rows` of one segment.
#[derive(Debug, Clone, Copy)]
struct Piece {
    segment: usize,
    start: usize,
    rows: usize,
}

/// Successive runs of at most `chunk_rows` rows through all segments in order.
struct Chunks<'s, 'a> {
    segments: &'s [Segment<'a>],
    chunk_rows: usize,
    segment: usize,
    start: usize,
}

impl<'s, 'a> Chunks<'s, 'a> {
    fn new(segments: &'s [Segment<'a>], chunk_rows: usize) -> Self {
        Self {
            segments,
            chunk_rows,
            segment: 0,
            start: 0,
        }
    }
}

impl Iterator for Chunks<'_, '_> {
    type Item = Vec<Piece>;

    fn next(&mut self) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        let mut left = self.chunk_rows;
        while left > 0 && self.segment < self.segments.len() {
            let len = self.segments[self.segment].len;
            let rows = left.min(len - self.start);
            if rows > 0 {
                pieces.push(Piece {
                    segment: self.segment,
                    start: self.start,
                    rows,
                });
            }
            left -= rows;
            self.start += rows;
            if self.start >= len {
                self.segment += 1;
                self.start = 0;
            }
        }
        (!pieces.is_empty()).then_some(pieces)
    }
}

/// Generates the chunk's rows into `out` (`row_len` elements each), the threads splitting the
/// rows (each row is a pure function of its position, so how they split does not matter).
fn generate<K: Entries>(
    isa: Isa,
    segments: &[Segment<'_>],
    chunk: &[Piece],
    out: &mut [K::Elem],
    row_len: usize,
    words_per_row: u128,
) {
    let rows = out.len() / row_len;
    let per_task = rows.div_ceil(rayon::current_num_threads()).max(1);
    out.par_chunks_mut(per_task * row_len)
        .enumerate()
        .for_each(|(t, out)| {
            let (first, last) = (t * per_task, t * per_task + out.len() / row_len);
            let mut scratch = Vec::new();
            let mut at = 0; // the chunk row where `piece` starts
            for piece in chunk {
                let (lo, hi) = (at.max(first), (at + piece.rows).min(last));
                let row = piece.start + lo.saturating_sub(at); // segment row at `lo`
                at += piece.rows;
                if lo < hi {
                    let mut rng = ChaCha8Rng::from_seed(segments[piece.segment].key);
                    rng.set_word_pos(row as u128 * words_per_row);
                    let dst = &mut out[(lo - first) * row_len..(hi - first) * row_len];
                    K::fill(isa, &mut rng, dst, &mut scratch);
                }
            }
        });
}

/// Up to 8 gradients' values for one piece of a chunk, row-major (`xs[r · lanes + lane]`),
/// zero past the end of a shorter part (adding ±0 to a sum that started at +0 changes no bit).
struct Group {
    /// The chunk row where the piece starts.
    row0: usize,
    rows: usize,
    /// Each lane's gradient.
    grads: Vec<usize>,
    xs: Vec<f32>,
}

/// The chunk's lane groups: pieces in order, each piece's gradients in order, `max` at a time
/// then the rest by halves (grouping never changes a gradient's own sums).
fn lane_groups(segments: &[Segment<'_>], chunk: &[Piece], max: usize) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut row0 = 0;
    for piece in chunk {
        let end = piece.start + piece.rows;
        let lanes: Vec<_> = segments[piece.segment]
            .lanes
            .iter()
            .filter(|(_, v)| v.len() > piece.start)
            .collect();
        let mut rest = &lanes[..];
        while !rest.is_empty() {
            let mut size = max;
            while size > rest.len() {
                size /= 2;
            }
            let (group, tail) = rest.split_at(size);
            rest = tail;
            let mut xs = vec![0.0f32; piece.rows * size];
            for (lane, (_, values)) in group.iter().enumerate() {
                let values = &values[piece.start..end.min(values.len())];
                for (r, &x) in values.iter().enumerate() {
                    xs[r * size + lane] = x;
                }
            }
            groups.push(Group {
                row0,
                rows: piece.rows,
                grads: group.iter().map(|(g, _)| *g).collect(),
                xs,
            });
        }
        row0 += piece.rows;
    }
    groups
}

/// The vector instructions the hot loops are compiled for, chosen at run time (the workspace
/// builds for the baseline CPU). Only [`Isa::detect`] makes `Avx2`, which is what makes the
/// `unsafe` calls of `#[target_feature(enable = "avx2")]` functions sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// 16 vector registers of 4 floats (SSE2, NEON): 8 registers of accumulators, 4 lanes.
    Baseline,
    /// 16 registers of 8 floats: 8 registers of accumulators, 8 lanes.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        Isa::Baseline
    }

    fn max_lanes(self) -> usize {
        match self {
            Isa::Baseline => 4,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => 8,
        }
    }
}

/// Adds the chunk's contribution to every gradient's accumulators, the threads splitting the
/// tiles (output columns), so each column's sum runs in one order whatever the thread count.
fn apply<K: Entries>(
    isa: Isa,
    entries: &[K::Elem],
    row_len: usize,
    groups: &[Group],
    acc: &mut [f32],
    n: usize,
) {
    let tiles = acc.len() / (n * TILE);
    let per_task = tiles.div_ceil(rayon::current_num_threads()).max(1);
    acc.par_chunks_mut(per_task * n * TILE)
        .enumerate()
        .for_each(|(t, acc)| {
            let col0 = t * per_task * TILE;
            match isa {
                Isa::Baseline => tiles_baseline::<K>(entries, row_len, groups, acc, n, col0),
                #[cfg(target_arch = "x86_64")]
                // SAFETY: only `Isa::detect` makes `Isa::Avx2`, after finding AVX2 on this CPU.
                Isa::Avx2 => unsafe { avx2::tiles::<K>(entries, row_len, groups, acc, n, col0) },
            }
        });
}

/// `acc` holds whole tiles, the first at column `col0`.
fn tiles_baseline<K: Entries>(
    entries: &[K::Elem],
    row_len: usize,
    groups: &[Group],
    acc: &mut [f32],
    n: usize,
    col0: usize,
) {
    for (t, tile) in acc.chunks_exact_mut(n * TILE).enumerate() {
        for group in groups {
            let col = col0 + t * TILE;
            match group.grads.len() {
                4 => kernel::<K, 4, 1>(entries, row_len, group, tile, col),
                2 => kernel::<K, 2, 2>(entries, row_len, group, tile, col),
                _ => kernel::<K, 1, 4>(entries, row_len, group, tile, col),
            }
        }
    }
}

/// The multiply-add loop in AVX2 intrinsics: autovectorised, LLVM's SLP pass sometimes
/// transposed the accumulators through shuffles (2× slower); written out, the loop is one
/// broadcast, one multiply and one add per eight columns and lane.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{__m256, _mm256_add_ps, _mm256_mul_ps, _mm256_set1_ps};

    use super::{Entries, Group, TILE};

    /// [`super::tiles_baseline`] with eight lanes and eight-float registers.
    #[target_feature(enable = "avx2")]
    pub(super) fn tiles<K: Entries>(
        entries: &[K::Elem],
        row_len: usize,
        groups: &[Group],
        acc: &mut [f32],
        n: usize,
        col0: usize,
    ) {
        for (t, tile) in acc.chunks_exact_mut(n * TILE).enumerate() {
            for group in groups {
                let col = col0 + t * TILE;
                match group.grads.len() {
                    8 => kernel::<K, 8, 1>(entries, row_len, group, tile, col),
                    4 => kernel::<K, 4, 2>(entries, row_len, group, tile, col),
                    2 => kernel::<K, 2, 4>(entries, row_len, group, tile, col),
                    _ => kernel::<K, 1, 8>(entries, row_len, group, tile, col),
                }
            }
        }
    }

    /// [`super::kernel`] with `N × B` accumulators of eight floats (8 of the 16 registers).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn kernel<K: Entries, const N: usize, const B: usize>(
        entries: &[K::Elem],
        row_len: usize,
        group: &Group,
        tile: &mut [f32],
        col0: usize,
    ) {
        let (xs, _) = group.xs.as_chunks::<N>();
        let rows = &entries[group.row0 * row_len..(group.row0 + group.rows) * row_len];
        let mut at = [0usize; N];
        for (at, &g) in at.iter_mut().zip(&group.grads) {
            *at = g * TILE;
        }
        let mut sub = 0;
        while sub < TILE {
            let cols = K::cols(col0 + sub, 8 * B);
            let mut a: [[__m256; B]; N] = [[bytemuck::cast([0.0f32; 8]); B]; N];
            for (a, &at) in a.iter_mut().zip(&at) {
                for (b, a) in a.iter_mut().enumerate() {
                    let mut v = [0.0f32; 8];
                    v.copy_from_slice(&tile[at + sub + 8 * b..at + sub + 8 * b + 8]);
                    *a = bytemuck::cast(v);
                }
            }
            let mut r = 0;
            while r < xs.len() {
                let entries = &rows[r * row_len..(r + 1) * row_len][cols.clone()];
                let mut x = [_mm256_set1_ps(0.0); N];
                for (x, &v) in x.iter_mut().zip(&xs[r]) {
                    *x = _mm256_set1_ps(v);
                }
                let mut b = 0;
                while b < B {
                    let s: __m256 = bytemuck::cast(K::part(entries, b));
                    let mut n = 0;
                    while n < N {
                        a[n][b] = _mm256_add_ps(a[n][b], _mm256_mul_ps(x[n], s));
                        n += 1;
                    }
                    b += 1;
                }
                r += 1;
            }
            for (a, &at) in a.iter().zip(&at) {
                for (b, &a) in a.iter().enumerate() {
                    let v: [f32; 8] = bytemuck::cast(a);
                    tile[at + sub + 8 * b..at + sub + 8 * b + 8].copy_from_slice(&v);
                }
            }
            sub += 8 * B;
        }
    }
}

/// One tile (64 columns from `col0`) for one group of `N` lanes, `B` parts of eight columns at a
/// time with `N × B` eight-float accumulators in registers: `a[n][b] += x[n] · entries[b]`, row
/// after row.
///
/// Eight-float arrays and `while` loops (no iterator adaptors, no wider arrays): LLVM turns each
/// [`madd8`] into one vector multiply and add and keeps the accumulators in registers, and
/// unoptimised test builds make no function call per multiply-add. `#[inline(always)]` compiles
/// it into each caller with that caller's instructions.
#[inline(always)]
fn kernel<K: Entries, const N: usize, const B: usize>(
    entries: &[K::Elem],
    row_len: usize,
    group: &Group,
    tile: &mut [f32],
    col0: usize,
) {
    let (xs, _) = group.xs.as_chunks::<N>();
    let rows = &entries[group.row0 * row_len..(group.row0 + group.rows) * row_len];
    let mut at = [0usize; N];
    for (at, &g) in at.iter_mut().zip(&group.grads) {
        *at = g * TILE;
    }
    let mut sub = 0;
    while sub < TILE {
        let cols = K::cols(col0 + sub, 8 * B);
        let mut a = [[[0.0f32; 8]; B]; N];
        for (a, &at) in a.iter_mut().zip(&at) {
            for (b, a) in a.iter_mut().enumerate() {
                a.copy_from_slice(&tile[at + sub + 8 * b..at + sub + 8 * b + 8]);
            }
        }
        let mut r = 0;
        while r < xs.len() {
            let entries = &rows[r * row_len..(r + 1) * row_len][cols.clone()];
            let x = &xs[r];
            let mut b = 0;
            while b < B {
                let s = K::part(entries, b);
                let mut n = 0;
                while n < N {
                    madd8(&mut a[n][b], x[n], &s);
                    n += 1;
                }
                b += 1;
            }
            r += 1;
        }
        for (a, &at) in a.iter().zip(&at) {
            for (b, a) in a.iter().enumerate() {
                tile[at + sub + 8 * b..at + sub + 8 * b + 8].copy_from_slice(a);
            }
        }
        sub += 8 * B;
    }
}

/// `a += x · s` on eight lanes.
#[inline(always)]
fn madd8(a: &mut [f32; 8], x: f32, s: &[f32; 8]) {
    let mut l = 0;
    while l < 8 {
        a[l] += x * s[l];
        l += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = Projector::DEFAULT_DIM;
    const KINDS: [ProjectionKind; 2] = [ProjectionKind::Rademacher, ProjectionKind::Gaussian];

    /// Coordinates of a test: `P·k` multiply-adds per gradient, and unoptimised builds (plain
    /// `cargo test`: the dev profile does not optimise this crate) run them ~20× slower, the
    /// Gaussian's Box–Muller ~100× slower. So the statistical tests use 10⁵ coordinates
    /// (Rademacher always, Gaussian in optimised builds); the exactness tests fewer.
    fn coordinates(kind: ProjectionKind, optimised: usize, debug: usize) -> usize {
        match kind {
            ProjectionKind::Gaussian if cfg!(debug_assertions) => debug,
            _ => optimised,
        }
    }

    /// Uniform in [−1, 1), from a seeded stream.
    fn random_vec(seed: u64, len: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len)
            .map(|_| (rng.next_u32() >> 8) as f32 / 8_388_608.0 - 1.0)
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    fn norm(a: &[f32]) -> f64 {
        dot(a, a).sqrt()
    }

    fn cos(a: &[f32], b: &[f32]) -> f64 {
        dot(a, b) / (norm(a) * norm(b))
    }

    /// Unit `u`, `w` with `u ⟂ w` (Gram–Schmidt in f64 on two seeded random vectors).
    fn orthonormal_pair(seed: u64, len: usize) -> (Vec<f64>, Vec<f64>) {
        let a: Vec<f64> = random_vec(seed, len).into_iter().map(f64::from).collect();
        let b: Vec<f64> = random_vec(seed + 1, len)
            .into_iter()
            .map(f64::from)
            .collect();
        let unit = |v: Vec<f64>| {
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f64>>()
        };
        let u = unit(a);
        let along: f64 = u.iter().zip(&b).map(|(x, y)| x * y).sum();
        let w = unit(b.iter().zip(&u).map(|(y, x)| y - along * x).collect());
        (u, w)
    }

    /// A model-like split of one flat vector into named parameters, one of them tiny.
    fn named(values: &[f32]) -> Vec<Named<'_>> {
        let (big, small) = (values.len() / 2, 37.min(values.len() / 4));
        let (q, rest) = values.split_at(big);
        let (bias, rest) = rest.split_at(small);
        let (up, norm) = rest.split_at(rest.len() / 2);
        vec![
            Named {
                name: "decoder.layers.0.attn.q_proj.weight",
                values: q,
            },
            Named {
                name: "decoder.layers.0.attn.q_proj.bias",
                values: bias,
            },
            Named {
                name: "decoder.layers.0.mlp.up.weight",
                values: up,
            },
            Named {
                name: "decoder.norm.weight",
                values: norm,
            },
        ]
    }

    fn projector(kind: ProjectionKind, seed: u64) -> Projector {
        Projector::new(K, seed, kind).unwrap()
    }

    /// Largest coordinate difference over the largest coordinate.
    fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = a
            .iter()
            .zip(b)
            .fold(0f32, |m, (&x, &y)| m.max((x - y).abs()));
        f64::from(diff) / f64::from(scale)
    }

    #[test]
    fn zero_dimension_is_an_error() {
        assert_eq!(
            Projector::new(0, 1, ProjectionKind::Rademacher),
            Err(ProjectionError::ZeroDim)
        );
        let p = Projector::new(7, 1, ProjectionKind::Gaussian).unwrap();
        assert_eq!(
            (p.dim(), p.seed(), p.kind()),
            (7, 1, ProjectionKind::Gaussian)
        );
        assert_eq!(p.with_chunk_rows(0).chunk_rows(), 1);
    }

    /// Built-in cosines survive the projection (|error| < 0.1, about 5σ at k = 4096), norms
    /// come out within 10%, and the projection is linear: `P(cu + sw) = cPu + sPw`, for both
    /// kinds, with each gradient split into named parts.
    #[test]
    fn preserves_cosines_and_norms_linearly() {
        for kind in KINDS {
            let p = coordinates(kind, 100_000, 10_000);
            let (u, w) = orthonormal_pair(11, p);
            let cosines = [-0.5, 0.0, 0.3, 0.9];
            // Not unit length: the 1/√k must be right, not just the angles.
            let scale = 3.7;
            let mut vectors: Vec<Vec<f32>> = [&u, &w]
                .iter()
                .map(|v| v.iter().map(|&x| (scale * x) as f32).collect())
                .collect();
            for c in cosines {
                let s = (1.0f64 - c * c).sqrt();
                let v = u
                    .iter()
                    .zip(&w)
                    .map(|(&x, &y)| (scale * (c * x + s * y)) as f32);
                vectors.push(v.collect());
            }
            let gradients: Vec<Vec<Named<'_>>> = vectors.iter().map(|v| named(v)).collect();
            let out = projector(kind, 5).project_many(&gradients).unwrap();
            for (v, pv) in vectors.iter().zip(&out) {
                let ratio = norm(pv) / norm(v);
                assert!((0.9..=1.1).contains(&ratio), "{kind:?}: norm ratio {ratio}");
            }
            let (pu, pw) = (&out[0], &out[1]);
            for (&c, pv) in cosines.iter().zip(&out[2..]) {
                let got = cos(pu, pv);
                assert!((got - c).abs() < 0.1, "{kind:?}: cosine {c} came out {got}");
                let s = (1.0f64 - c * c).sqrt();
                let combined: Vec<f32> = pu
                    .iter()
                    .zip(pw)
                    .map(|(&a, &b)| (c * f64::from(a) + s * f64::from(b)) as f32)
                    .collect();
                let err = max_rel_diff(pv, &combined);
                assert!(
                    err < 1e-4,
                    "{kind:?}: P(cu + sw) − (cPu + sPw) at {err} relative"
                );
            }
        }
    }

    #[test]
    fn is_linear() {
        for kind in KINDS {
            let p = coordinates(kind, 20_000, 2_000);
            let a = random_vec(21, p);
            let b: Vec<f32> = random_vec(22, p).iter().map(|x| 3.0 * x).collect();
            let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
            let out = projector(kind, 6).project_each(&[named(&a), named(&b), named(&sum)]);
            let added: Vec<f32> = out[0].iter().zip(&out[1]).map(|(x, y)| x + y).collect();
            let err = max_rel_diff(&out[2], &added);
            assert!(err < 1e-4, "{kind:?}: P(a+b) − (Pa + Pb) at {err} relative");
        }
    }

    /// The chunk size, the thread count and the order of the parts change no bit (the sums run
    /// in one order whatever they are).
    #[test]
    fn independent_of_chunk_size_threads_and_order() {
        for kind in KINDS {
            let p = coordinates(kind, 10_000, 2_000);
            let g = random_vec(31, p);
            let parts = named(&g);
            let mut shuffled = parts.clone();
            shuffled.reverse();
            shuffled.swap(0, 2);
            let reference = projector(kind, 7).project(&parts);
            for rows in [1, 7, 4096, p] {
                let out = projector(kind, 7).with_chunk_rows(rows).project(&parts);
                assert_eq!(out, reference, "{kind:?}: chunks of {rows} rows");
            }
            assert_eq!(
                projector(kind, 7).project(&shuffled),
                reference,
                "{kind:?}: order"
            );
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let out = pool.install(|| projector(kind, 7).project(&parts));
                assert_eq!(out, reference, "{kind:?}: {threads} threads");
            }
        }
    }

    #[test]
    fn seeds_and_names_pick_the_matrix() {
        for kind in KINDS {
            let g = random_vec(41, coordinates(kind, 5_000, 1_000));
            let parts = named(&g);
            let a = projector(kind, 8).project(&parts);
            assert_eq!(projector(kind, 8).project(&parts), a, "{kind:?}: same seed");
            let b = projector(kind, 9).project(&parts);
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            assert!(
                same < K / 100,
                "{kind:?}: another seed left {same} coordinates equal"
            );
            // Orthogonal in expectation: another matrix, not a permutation of this one.
            assert!(cos(&a, &b).abs() < 0.1, "{kind:?}: cos {}", cos(&a, &b));
            let mut renamed = parts.clone();
            renamed[0].name = "decoder.layers.1.attn.q_proj.weight";
            let c = projector(kind, 8).project(&renamed);
            assert!(
                cos(&a, &c) < 0.9,
                "{kind:?}: a renamed parameter kept its rows"
            );
        }
    }

    /// Gradients with different parameters and lengths, duplicate names and empty parts: each
    /// gets exactly what it gets alone.
    #[test]
    fn project_each_matches_project() {
        let x = random_vec(51, 1_000);
        let y = random_vec(52, 1_000);
        let gradients: Vec<Vec<Named<'_>>> = vec![
            named(&x),
            vec![
                Named {
                    name: "b",
                    values: &y[..500],
                },
                Named {
                    name: "decoder.norm.weight",
                    values: &x[..999],
                },
            ],
            vec![],
            vec![
                Named {
                    name: "a",
                    values: &y[..10],
                },
                Named {
                    name: "a",
                    values: &x[5..7],
                },
            ],
            vec![
                Named {
                    name: "c",
                    values: &[],
                },
                Named {
                    name: "b",
                    values: &y[..500],
                },
            ],
            named(&y),
            named(&x),
            named(&y),
            named(&x),
            named(&y),
            named(&x),
        ];
        for kind in KINDS {
            let p = projector(kind, 10).with_chunk_rows(300);
            let many = p.project_each(&gradients);
            assert_eq!(many.len(), gradients.len());
            for (i, (g, out)) in gradients.iter().zip(&many).enumerate() {
                assert_eq!(*out, p.project(g), "{kind:?}: gradient {i}");
            }
            assert_eq!(many[2], vec![0.0; K], "{kind:?}: empty gradient");
            assert_eq!(many[0], many[6]);
            // A name listed twice: both parts with that name's rows.
            let summed: Vec<f32> = (0..10)
                .map(|i| y[i] + if i < 2 { x[5 + i] } else { 0.0 })
                .collect();
            let alone = p.project(&[Named {
                name: "a",
                values: &summed,
            }]);
            let err = max_rel_diff(&alone, &many[3]);
            assert!(err < 1e-5, "{kind:?}: duplicate names off by {err}");
        }
        let p = projector(ProjectionKind::Rademacher, 10);
        assert!(p.project_each(&Vec::<Vec<Named<'_>>>::new()).is_empty());
        assert_eq!(
            p.project_many(&Vec::<Vec<Named<'_>>>::new()),
            Ok(Vec::new())
        );
    }

    /// `project_many` refuses gradients of different layouts, and agrees with `project_each`
    /// on one layout in any order.
    #[test]
    fn project_many_checks_layouts() {
        let x = random_vec(55, 500);
        let y = random_vec(56, 500);
        let same = [named(&x), named(&y)];
        assert_eq!(Projector::check_layouts(&same), Ok(()));
        let mut reordered = named(&y);
        reordered.reverse();
        assert_eq!(Projector::check_layouts(&[named(&x), reordered]), Ok(()));
        let shorter = named(&y[..499]);
        let renamed = vec![Named {
            name: "other",
            values: &y[..],
        }];
        for (index, other) in [(1, shorter), (2, renamed)] {
            let mut gradients = vec![named(&x), named(&y)];
            gradients.truncate(index);
            gradients.push(other);
            let err = Projector::check_layouts(&gradients).unwrap_err();
            assert!(
                matches!(err, ProjectionError::LayoutMismatch { index: i, .. } if i == index),
                "{err}"
            );
            let p = projector(ProjectionKind::Rademacher, 1);
            assert_eq!(p.project_many(&gradients), Err(err));
        }
        let p = projector(ProjectionKind::Rademacher, 1);
        let mut reordered = named(&y);
        reordered.reverse();
        let mixed = [named(&x), reordered];
        assert_eq!(p.project_many(&mixed).unwrap(), p.project_each(&mixed));
        assert_eq!(p.project_many(&same).unwrap(), p.project_each(&same));
    }

    /// The AVX2 loops give the same bits as the portable ones, for every lane grouping.
    #[test]
    fn vector_paths_agree() {
        let x = random_vec(61, 2_000);
        let y = random_vec(62, 2_000);
        let gradients: Vec<_> = (0..15)
            .map(|i| named(if i % 3 == 0 { &x } else { &y }))
            .collect();
        for kind in KINDS {
            let p = projector(kind, 12).with_chunk_rows(1000);
            let fast = p.project_on(Isa::detect(), &gradients);
            let portable = p.project_on(Isa::Baseline, &gradients);
            assert_eq!(fast, portable, "{kind:?}");
        }
    }

    /// The documented layout of a Rademacher row, rebuilt from ChaCha8 by hand, with k not a
    /// multiple of 64: the result is `R g / √k` with those rows.
    #[test]
    fn rademacher_rows_are_as_documented() {
        let k = 100;
        let g = random_vec(71, 300);
        let parts = [
            Named {
                name: "w",
                values: &g[..200],
            },
            Named {
                name: "b",
                values: &g[200..],
            },
        ];
        let out = Projector::new(k, 13, ProjectionKind::Rademacher)
            .unwrap()
            .project(&parts);
        let mut expected = vec![0f64; k];
        for part in &parts {
            let mut rng = ChaCha8Rng::from_seed(row_key(13, part.name));
            for (i, &x) in part.values.iter().enumerate() {
                let mut row = [0u8; 16]; // ⌈100/64⌉ = 2 u64 words = 4 u32 words
                rng.set_word_pos(i as u128 * 4);
                rng.fill_bytes(&mut row);
                for (j, e) in expected.iter_mut().enumerate() {
                    let sign = if (row[j / 8] >> (j % 8)) & 1 == 1 {
                        -1.0
                    } else {
                        1.0
                    };
                    *e += sign * f64::from(x);
                }
            }
        }
        for (j, (&got, e)) in out.iter().zip(&expected).enumerate() {
            let want = e / (k as f64).sqrt();
            assert!(
                (f64::from(got) - want).abs() < 1e-4,
                "column {j}: {got} vs {want}"
            );
        }
    }

    /// The polynomial Box–Muller against f64 libm, on both vector paths, and the moments of
    /// its output.
    #[test]
    fn box_muller_is_accurate() {
        let mut rng = ChaCha8Rng::seed_from_u64(81);
        let mut words = vec![0u8; 64 * 4096];
        rng.fill_bytes(&mut words);
        let mut z = vec![0f32; 16 * 4096];
        box_muller(Isa::detect(), &words, &mut z);
        let mut portable = vec![0f32; z.len()];
        box_muller(Isa::Baseline, &words, &mut portable);
        assert_eq!(z, portable);
        let word = |w: &[u8], i: usize| {
            u32::from_le_bytes([w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]])
        };
        for (w, z) in words.chunks_exact(64).zip(z.chunks_exact(16)) {
            for l in 0..8 {
                let u1 = f64::from((word(w, l) >> 8) + 1) / 16_777_216.0;
                let u2 = f64::from(word(w, 8 + l) >> 8) / 16_777_216.0;
                let r = (-2.0 * u1.ln()).sqrt();
                let theta = std::f64::consts::TAU * u2;
                for (got, want) in [(z[l], r * theta.cos()), (z[8 + l], r * theta.sin())] {
                    assert!((f64::from(got) - want).abs() < 2e-6, "{got} vs {want}");
                }
            }
        }
        let n = z.len() as f64;
        let moment = |p: i32| z.iter().map(|&x| f64::from(x).powi(p)).sum::<f64>() / n;
        let (mean, var, kurt) = (moment(1), moment(2), moment(4));
        // Standard errors at n = 65536: 0.004, 0.006, 0.04.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        assert!((kurt - 3.0).abs() < 0.2, "fourth moment {kurt}");
    }

    #[test]
    fn odd_dimensions_and_serde() {
        let g = random_vec(91, 1000);
        for k in [1, 63, 65] {
            for kind in KINDS {
                let out = Projector::new(k, 1, kind).unwrap().project(&named(&g));
                assert_eq!(out.len(), k);
                assert!(
                    out.iter().all(|x| x.is_finite() && *x != 0.0),
                    "{kind:?} k={k}"
                );
            }
        }
        let json = serde_json::to_string(&[ProjectionKind::Rademacher, ProjectionKind::Gaussian]);
        assert_eq!(json.unwrap(), r#"["rademacher","gaussian"]"#);
        let kind: ProjectionKind = serde_json::from_str(r#""gaussian""#).unwrap();
        assert_eq!(kind, ProjectionKind::Gaussian);
    }
}
