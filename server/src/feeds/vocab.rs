//! Word lists that turn feed text into our vocabulary: slots, gender, age,
//! colour names, patterns and styles. Matching is by whole lowercase word, so
//! `women` never matches `men` and `bootcut` never matches `boot`.

use crate::domain::{ColorName, Gender, Pattern, Slot, Style, StyleSet};

/// Lowercase words of `text` (letters and digits; everything else splits).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[rustfmt::skip]
const SLOT_WORDS: &[(&str, Slot)] = &[
    ("shirt", Slot::Top), ("shirts", Slot::Top), ("top", Slot::Top), ("tops", Slot::Top),
    ("tee", Slot::Top), ("tees", Slot::Top), ("tshirt", Slot::Top), ("tshirts", Slot::Top),
    ("blouse", Slot::Top), ("blouses", Slot::Top), ("sweater", Slot::Top), ("sweaters", Slot::Top),
    ("jumper", Slot::Top), ("jumpers", Slot::Top), ("hoodie", Slot::Top), ("hoodies", Slot::Top),
    ("sweatshirt", Slot::Top), ("sweatshirts", Slot::Top), ("cardigan", Slot::Top),
    ("cardigans", Slot::Top), ("polo", Slot::Top), ("polos", Slot::Top), ("tank", Slot::Top),
    ("camisole", Slot::Top), ("knitwear", Slot::Top), ("pullover", Slot::Top),
    ("longsleeve", Slot::Top), ("tunic", Slot::Top), ("bodysuit", Slot::Top),
    ("trousers", Slot::Bottom), ("trouser", Slot::Bottom), ("pants", Slot::Bottom),
    ("jeans", Slot::Bottom), ("shorts", Slot::Bottom), ("skirt", Slot::Bottom),
    ("skirts", Slot::Bottom), ("leggings", Slot::Bottom), ("chinos", Slot::Bottom),
    ("joggers", Slot::Bottom), ("culottes", Slot::Bottom), ("bottoms", Slot::Bottom),
    ("dress", Slot::Dress), ("dresses", Slot::Dress), ("gown", Slot::Dress),
    ("jumpsuit", Slot::Dress), ("jumpsuits", Slot::Dress), ("playsuit", Slot::Dress),
    ("romper", Slot::Dress),
    ("shoes", Slot::Shoes), ("shoe", Slot::Shoes), ("sneakers", Slot::Shoes),
    ("sneaker", Slot::Shoes), ("trainers", Slot::Shoes), ("boots", Slot::Shoes),
    ("boot", Slot::Shoes), ("sandals", Slot::Shoes), ("sandal", Slot::Shoes),
    ("heels", Slot::Shoes), ("pumps", Slot::Shoes), ("loafers", Slot::Shoes),
    ("flats", Slot::Shoes), ("espadrilles", Slot::Shoes), ("mules", Slot::Shoes),
    ("footwear", Slot::Shoes), ("brogues", Slot::Shoes), ("slippers", Slot::Shoes),
    ("coat", Slot::Outerwear), ("coats", Slot::Outerwear), ("jacket", Slot::Outerwear),
    ("jackets", Slot::Outerwear), ("parka", Slot::Outerwear), ("blazer", Slot::Outerwear),
    ("blazers", Slot::Outerwear), ("anorak", Slot::Outerwear), ("raincoat", Slot::Outerwear),
    ("trench", Slot::Outerwear), ("puffer", Slot::Outerwear), ("gilet", Slot::Outerwear),
    ("windbreaker", Slot::Outerwear), ("outerwear", Slot::Outerwear), ("outwear", Slot::Outerwear),
    ("accessories", Slot::Accessory), ("accessory", Slot::Accessory), ("bag", Slot::Accessory),
    ("bags", Slot::Accessory), ("handbag", Slot::Accessory), ("backpack", Slot::Accessory),
    ("hat", Slot::Accessory), ("hats", Slot::Accessory), ("cap", Slot::Accessory),
    ("beanie", Slot::Accessory), ("scarf", Slot::Accessory), ("scarves", Slot::Accessory),
    ("belt", Slot::Accessory), ("belts", Slot::Accessory), ("jewellery", Slot::Accessory),
    ("jewelry", Slot::Accessory), ("necklace", Slot::Accessory), ("bracelet", Slot::Accessory),
    ("earrings", Slot::Accessory), ("watch", Slot::Accessory), ("sunglasses", Slot::Accessory),
    ("gloves", Slot::Accessory), ("wallet", Slot::Accessory), ("tie", Slot::Accessory),
];

/// Google product taxonomy ids of the apparel categories we can place.
const TAXONOMY: &[(u32, Slot)] = &[
    (212, Slot::Top),
    (204, Slot::Bottom),
    (207, Slot::Bottom),
    (1581, Slot::Bottom),
    (2271, Slot::Dress),
    (187, Slot::Shoes),
    (203, Slot::Outerwear),
    (5598, Slot::Outerwear),
    (167, Slot::Accessory),
    (188, Slot::Accessory),
    (6551, Slot::Accessory),
];

/// The slot a category path, product type or title names. The last segment of
/// a path (`Clothing > Shirts & Tops`) is the most specific, and the last word
/// of a phrase its head (`Shirt Dress` is a dress, `Dress Shirt` a shirt).
pub fn slot_of(text: &str) -> Option<Slot> {
    let text = text.trim();
    if let Ok(id) = text.parse::<u32>() {
        return TAXONOMY.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
    }
    for segment in text.rsplit(['>', '/', '|']) {
        let found = words(segment)
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .find_map(|w| SLOT_WORDS.iter().find(|(k, _)| k == w).map(|(_, s)| *s));
        if found.is_some() {
            return found;
        }
    }
    None
}

/// What a gender or age text says about who wears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wearer {
    Gender(Gender),
    Kids,
}

/// Reads an explicit gender value (`female`, `Womens`, `Men`, `unisex`, `Girls`).
pub fn wearer_of(text: &str) -> Option<Wearer> {
    let mut female = false;
    let mut male = false;
    for w in words(text) {
        match w.as_str() {
            "female" | "women" | "womens" | "woman" | "ladies" | "lady" | "her" => female = true,
            "male" | "men" | "mens" | "man" | "gents" | "him" => male = true,
            "unisex" => return Some(Wearer::Gender(Gender::Unisex)),
            "kids" | "kid" | "children" | "childrens" | "child" | "girls" | "boys" | "girl"
            | "boy" | "baby" | "babies" | "junior" | "toddler" | "infant" | "newborn" => {
                return Some(Wearer::Kids);
            }
            _ => {}
        }
    }
    match (female, male) {
        (true, false) => Some(Wearer::Gender(Gender::Female)),
        (false, true) => Some(Wearer::Gender(Gender::Male)),
        (true, true) => Some(Wearer::Gender(Gender::Unisex)),
        (false, false) => None,
    }
}

/// Whether an `age_group` value is for adults (an empty one is).
pub fn adult_age_group(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    t.is_empty() || t == "adult" || t == "adults"
}

#[rustfmt::skip]
const COLOR_WORDS: &[(&str, ColorName)] = &[
    ("gray", ColorName::Grey), ("charcoal", ColorName::Grey), ("silver", ColorName::Grey),
    ("anthracite", ColorName::Grey), ("cream", ColorName::Beige), ("ivory", ColorName::Beige),
    ("ecru", ColorName::Beige), ("sand", ColorName::Beige), ("stone", ColorName::Beige),
    ("nude", ColorName::Beige), ("khaki", ColorName::Beige), ("tan", ColorName::Brown),
    ("camel", ColorName::Brown), ("chocolate", ColorName::Brown), ("cognac", ColorName::Brown),
    ("burgundy", ColorName::Red), ("maroon", ColorName::Red), ("wine", ColorName::Red),
    ("bordeaux", ColorName::Red), ("crimson", ColorName::Red), ("rust", ColorName::Orange),
    ("coral", ColorName::Orange), ("mustard", ColorName::Yellow), ("gold", ColorName::Yellow),
    ("olive", ColorName::Green), ("mint", ColorName::Green), ("sage", ColorName::Green),
    ("emerald", ColorName::Green), ("teal", ColorName::Blue), ("turquoise", ColorName::Blue),
    ("denim", ColorName::Blue), ("cobalt", ColorName::Blue), ("indigo", ColorName::Navy),
    ("violet", ColorName::Purple), ("lilac", ColorName::Purple), ("lavender", ColorName::Purple),
    ("plum", ColorName::Purple), ("mauve", ColorName::Purple), ("rose", ColorName::Pink),
    ("blush", ColorName::Pink), ("fuchsia", ColorName::Pink), ("magenta", ColorName::Pink),
];

/// Up to three colour names in a colour text (`Navy/White`, `dark grey`), in order.
pub fn colors_of(text: &str) -> Vec<ColorName> {
    let mut out = Vec::new();
    for w in words(text) {
        let name = ColorName::parse(&w)
            .or_else(|| COLOR_WORDS.iter().find(|(k, _)| *k == w).map(|(_, c)| *c));
        if let Some(c) = name
            && !out.contains(&c)
        {
            out.push(c);
            if out.len() == 3 {
                break;
            }
        }
    }
    out
}

/// The pattern a pattern attribute or title names.
pub fn pattern_of(text: &str) -> Option<Pattern> {
    words(text).find_map(|w| match w.as_str() {
        "solid" | "plain" | "uni" => Some(Pattern::Solid),
        "stripe" | "stripes" | "striped" | "stripy" | "pinstripe" | "breton" => {
            Some(Pattern::Striped)
        }
        "check" | "checks" | "checked" | "plaid" | "tartan" | "gingham" | "houndstooth" => {
            Some(Pattern::Checked)
        }
        "print" | "printed" | "floral" | "paisley" | "polka" | "dots" | "leopard" | "animal"
        | "graphic" | "camo" | "camouflage" => Some(Pattern::Printed),
        _ => None,
    })
}

#[rustfmt::skip]
const STYLE_WORDS: &[(&str, Style)] = &[
    ("sport", Style::Sporty), ("sports", Style::Sporty), ("running", Style::Sporty),
    ("gym", Style::Sporty), ("training", Style::Sporty), ("athletic", Style::Sporty),
    ("activewear", Style::Sporty), ("yoga", Style::Sporty), ("trainers", Style::Sporty),
    ("formal", Style::Formal), ("evening", Style::Formal), ("gown", Style::Formal),
    ("tuxedo", Style::Formal), ("cocktail", Style::Formal), ("satin", Style::Formal),
    ("blazer", Style::Business), ("suit", Style::Business), ("tailored", Style::Business),
    ("office", Style::Business), ("pencil", Style::Business), ("loafers", Style::Business),
    ("classic", Style::Classic), ("oxford", Style::Classic), ("trench", Style::Classic),
    ("cardigan", Style::Classic), ("polo", Style::Classic), ("chinos", Style::Classic),
    ("brogues", Style::Classic), ("pleated", Style::Classic),
    ("hoodie", Style::Streetwear), ("graphic", Style::Streetwear), ("oversized", Style::Streetwear),
    ("cargo", Style::Streetwear), ("sneakers", Style::Streetwear), ("bomber", Style::Streetwear),
    ("joggers", Style::Streetwear), ("street", Style::Streetwear),
    ("boho", Style::Boho), ("floral", Style::Boho), ("maxi", Style::Boho), ("fringe", Style::Boho),
    ("paisley", Style::Boho), ("crochet", Style::Boho), ("embroidered", Style::Boho),
    ("basic", Style::Minimal), ("essential", Style::Minimal), ("plain", Style::Minimal),
    ("minimal", Style::Minimal), ("casual", Style::Casual), ("jeans", Style::Casual),
    ("denim", Style::Casual), ("tee", Style::Casual), ("shorts", Style::Casual),
    ("sweatshirt", Style::Casual),
];

/// Styles named in `texts`; casual when none is.
pub fn styles_of(texts: &[&str]) -> StyleSet {
    let mut set: StyleSet = 0;
    for text in texts {
        for w in words(text) {
            if let Some((_, s)) = STYLE_WORDS.iter().find(|(k, _)| *k == w) {
                set |= s.bit();
            }
        }
    }
    if set == 0 { Style::Casual.bit() } else { set }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_from_the_most_specific_words() {
        assert_eq!(
            slot_of("Apparel & Accessories > Clothing > Shirts & Tops"),
            Some(Slot::Top)
        );
        assert_eq!(slot_of("Shirt Dress"), Some(Slot::Dress));
        assert_eq!(slot_of("Slim Dress Shirt"), Some(Slot::Top));
        assert_eq!(slot_of("Bootcut Jeans"), Some(Slot::Bottom));
        assert_eq!(slot_of("2271"), Some(Slot::Dress));
        assert_eq!(slot_of("Women's T-Shirts"), Some(Slot::Top));
        assert_eq!(slot_of("Swimwear"), None);
    }

    #[test]
    fn gender_and_age_words() {
        assert_eq!(wearer_of("Womens"), Some(Wearer::Gender(Gender::Female)));
        assert_eq!(
            wearer_of("Clothing > Men's > Coats"),
            Some(Wearer::Gender(Gender::Male))
        );
        assert_eq!(wearer_of("Girls"), Some(Wearer::Kids));
        assert_eq!(wearer_of("Boyfriend jeans"), None);
        assert!(adult_age_group("Adult") && !adult_age_group("kids"));
    }

    #[test]
    fn colours_patterns_styles() {
        assert_eq!(
            colors_of("Navy/White stripe"),
            vec![ColorName::Navy, ColorName::White]
        );
        assert_eq!(colors_of("charcoal gray"), vec![ColorName::Grey]);
        assert_eq!(pattern_of("Blue gingham shirt"), Some(Pattern::Checked));
        assert_eq!(
            styles_of(&["Plain tee"]),
            Style::Minimal.bit() | Style::Casual.bit()
        );
        assert_eq!(styles_of(&["Linen shirt"]), Style::Casual.bit());
    }
}
