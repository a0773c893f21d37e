//! Deterministic synthetic feeds in every format, for benchmarks and the
//! memory check (`examples/feed_gen.rs`): apparel rows with size variants,
//! written streaming so a million rows never sit in memory.

use std::io::{self, Write};

use super::FeedFormat;

const CATEGORIES: [&str; 6] = [
    "Apparel & Accessories > Clothing > Shirts & Tops",
    "Apparel & Accessories > Clothing > Pants",
    "Apparel & Accessories > Clothing > Dresses",
    "Apparel & Accessories > Shoes",
    "Apparel & Accessories > Clothing > Outerwear > Coats & Jackets",
    "Apparel & Accessories > Clothing Accessories > Belts",
];
const COLORS: [&str; 6] = ["Navy", "White", "Black", "Red", "Olive", "Beige"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

/// One synthetic product row: `(id, group, title, price, image, category, gender, color, size, availability)`.
fn fields(i: usize, seed: u64, image_base: &str) -> [String; 10] {
    let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let product = i / SIZES.len();
    let category = CATEGORIES[(product + (h as usize >> 7)) % CATEGORIES.len()];
    let color = COLORS[(product >> 1) % COLORS.len()];
    let gender = ["female", "male", "unisex"][product % 3];
    [
        format!("sku-{i}"),
        format!("grp-{product}"),
        format!(
            "{color} {} no. {product} & co",
            category.rsplit("> ").next().unwrap_or("item")
        ),
        format!("{}.{:02} EUR", 10 + (h >> 20) % 190, (h >> 8) % 100),
        format!("{image_base}/{}.jpg", product % 1000),
        category.to_string(),
        gender.to_string(),
        color.to_string(),
        SIZES[i % SIZES.len()].to_string(),
        if h.is_multiple_of(10) {
            "out of stock"
        } else {
            "in stock"
        }
        .to_string(),
    ]
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes `rows` product rows in `format` (Awin with `;`).
pub fn write_feed(
    out: &mut impl Write,
    format: FeedFormat,
    rows: usize,
    seed: u64,
    image_base: &str,
) -> io::Result<()> {
    match format {
        FeedFormat::GoogleXml => {
            writeln!(
                out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">\n<channel>\n<title>Synthetic shop</title>"
            )?;
            for i in 0..rows {
                let [
                    id,
                    group,
                    title,
                    price,
                    image,
                    category,
                    gender,
                    color,
                    size,
                    avail,
                ] = fields(i, seed, image_base);
                writeln!(
                    out,
                    "<item>\n<g:id>{id}</g:id>\n<g:item_group_id>{group}</g:item_group_id>\n<title>{}</title>\n<link>https://shop.example/p/{id}</link>\n<g:price>{price}</g:price>\n<g:image_link>{image}</g:image_link>\n<g:google_product_category>{}</g:google_product_category>\n<g:gender>{gender}</g:gender>\n<g:age_group>adult</g:age_group>\n<g:color>{color}</g:color>\n<g:size>{size}</g:size>\n<g:availability>{avail}</g:availability>\n<g:brand>Synthetic</g:brand>\n</item>",
                    xml_escape(&title),
                    xml_escape(&category)
                )?;
            }
            writeln!(out, "</channel>\n</rss>")
        }
        FeedFormat::GoogleTsv => {
            writeln!(
                out,
                "id\titem_group_id\ttitle\tprice\timage_link\tgoogle_product_category\tgender\tcolor\tsize\tavailability"
            )?;
            for i in 0..rows {
                writeln!(out, "{}", fields(i, seed, image_base).join("\t"))?;
            }
            Ok(())
        }
        FeedFormat::AwinCsv => {
            writeln!(
                out,
                "aw_product_id;parent_product_id;product_name;search_price;currency;merchant_image_url;merchant_category;Fashion:suitable_for;colour;Fashion:size;in_stock"
            )?;
            for i in 0..rows {
                let [
                    id,
                    group,
                    title,
                    price,
                    image,
                    category,
                    _gender,
                    color,
                    size,
                    avail,
                ] = fields(i, seed, image_base);
                let (amount, currency) = price.split_once(' ').unwrap_or((&price, "EUR"));
                let in_stock = if avail == "in stock" { 1 } else { 0 };
                let category = format!("Womens > {}", category.rsplit("> ").next().unwrap_or(""));
                writeln!(
                    out,
                    "{id};{group};\"{title}\";{amount};{currency};{image};{category};;{color};{size};{in_stock}"
                )?;
            }
            Ok(())
        }
    }
}
