//! The row and column labels of the table tasks (SPEC §2).

/// English month names in calendar order; tables draw them without repetition, in random order.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const PRODUCT_PREFIXES: [&str; 10] = [
    "Alpha", "Nova", "Zenith", "Quantum", "Vertex", "Lumen", "Orbit", "Pixel", "Echo", "Terra",
];

const PRODUCT_NOUNS: [&str; 10] = [
    "Widget", "Gadget", "Scanner", "Router", "Speaker", "Monitor", "Blender", "Drone", "Camera",
    "Tablet",
];

/// Number of invented product names.
pub const PRODUCT_COUNT: usize = PRODUCT_PREFIXES.len() * PRODUCT_NOUNS.len();

/// The `i`-th of the 100 invented product names (a prefix word plus a device noun).
pub fn product_name(i: usize) -> String {
    let i = i % PRODUCT_COUNT;
    format!("{}{}", PRODUCT_PREFIXES[i / 10], PRODUCT_NOUNS[i % 10])
}

/// All product names, in a fixed order.
pub fn product_names() -> Vec<String> {
    (0..PRODUCT_COUNT).map(product_name).collect()
}

/// Digits as the English words drawn in table images (paper C.6.1).
pub const DIGIT_WORDS: [&str; 10] = [
    "ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names_are_distinct() {
        let mut names = product_names();
        assert_eq!(names.len(), 100);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 100);
    }
}
