//! QR codes of short URLs, as SVG or PNG: the matrix comes from the `qrcode` crate, the
//! PNG raster is drawn here from it and encoded by `png`. Used by `GET /links/{code}/qr`
//! and the web app's link page.

use qrcode::{Color, EcLevel, QrCode};

/// Smallest and largest image side, in pixels, and the default.
pub const MIN_SIZE: u32 = 64;
pub const MAX_SIZE: u32 = 2048;
pub const DEFAULT_SIZE: u32 = 256;
/// Light modules around the code, as the standard asks.
const QUIET_ZONE: u32 = 4;

/// The two image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "svg" => Some(Self::Svg),
            "png" => Some(Self::Png),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Svg => "svg",
            Self::Png => "png",
        }
    }
}

/// The QR code of `text` (a short URL: well under any QR capacity) at about `size` pixels
/// square (never smaller than one pixel per module).
pub fn render(text: &str, format: Format, size: u32) -> Result<Vec<u8>, String> {
    let code = encode(text)?;
    match format {
        Format::Svg => Ok(svg(&code, size).into_bytes()),
        Format::Png => png(&code, size),
    }
}

/// The code as an SVG document of `size` pixels (scalable: one unit per module).
pub fn svg_markup(text: &str, size: u32) -> Result<String, String> {
    Ok(svg(&encode(text)?, size))
}

fn encode(text: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| format!("cannot encode this text as a QR code: {e}"))
}

fn svg(code: &QrCode, size: u32) -> String {
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(size, size)
        .max_dimensions(size, size)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build()
}

fn png(code: &QrCode, size: u32) -> Result<Vec<u8>, String> {
    let modules = code.width() as u32;
    let side_modules = modules + 2 * QUIET_ZONE;
    let scale = (size / side_modules).max(1);
    let side = side_modules * scale;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % modules, i as u32 / modules);
        let (x0, y0) = ((mx + QUIET_ZONE) * scale, (my + QUIET_ZONE) * scale);
        for y in y0..y0 + scale {
            let row = (y * side) as usize;
            pixels[row + x0 as usize..row + (x0 + scale) as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_is_a_png_of_about_the_asked_size() {
        let bytes = render("http://localhost:8080/abc1234", Format::Png, 256).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width <= 256 && info.width > 128, "{}", info.width);
    }

    #[test]
    fn svg_is_an_svg_document() {
        let svg = String::from_utf8(render("http://x.test/a", Format::Svg, 200).unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("#000000"));
    }
}
