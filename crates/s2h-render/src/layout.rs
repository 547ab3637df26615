//! Where a render drew each cell or panel (SPEC §7.4): kept in record metadata for pixel
//! attribution and image checks.

use s2h_tasks::Cell;
use serde::{Deserialize, Serialize};

/// A pixel rectangle, serialised as `[x, y, width, height]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

impl From<[f32; 4]> for BBox {
    fn from([x, y, w, h]: [f32; 4]) -> Self {
        Self { x, y, w, h }
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x, b.y, b.w, b.h]
    }
}

/// What a region of the image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A body cell of a table or grid, at `cell`.
    Cell,
    /// A row header (table product name or grid row number), at `[row, 0]`.
    RowLabel,
    /// A column header (month name or grid column number), at `[0, col]`.
    ColLabel,
    /// The empty header corner of a table.
    Corner,
    /// A Visual Analogy panel, named e.g. `example 1 panel 2`, `query panel 3`, `option 4`.
    Panel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<Cell>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub bbox: BBox,
    /// What the region shows, in words: the text drawn in it (a month, a product, a value word
    /// with ` *` when its cell is highlighted, a grid number) or what it holds (`start`, an
    /// object or obstacle name). `None`: nothing the renderer names (an empty cell, the corner,
    /// a Visual Analogy panel). The body cells' are what a vision tower learns to name in
    /// `s2h-train`'s reading stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shows: Option<String>,
}

/// Every region a render drew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub regions: Vec<Region>,
}

impl Layout {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            regions: Vec::new(),
        }
    }

    pub fn push_cell(&mut self, role: Role, cell: Cell, bbox: BBox, shows: Option<String>) {
        self.regions.push(Region {
            role,
            cell: Some(cell),
            name: None,
            bbox,
            shows,
        });
    }

    pub fn push_named(&mut self, role: Role, name: String, bbox: BBox) {
        self.regions.push(Region {
            role,
            cell: None,
            name: Some(name),
            bbox,
            shows: None,
        });
    }

    /// The box of the body cell at `cell`, if one was drawn.
    pub fn cell(&self, cell: Cell) -> Option<BBox> {
        self.regions
            .iter()
            .find(|r| r.role == Role::Cell && r.cell == Some(cell))
            .map(|r| r.bbox)
    }

    /// The box of the region named `name`, if one was drawn.
    pub fn named(&self, name: &str) -> Option<BBox> {
        self.regions
            .iter()
            .find(|r| r.name.as_deref() == Some(name))
            .map(|r| r.bbox)
    }
}
