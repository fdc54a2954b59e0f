//! Each person's colour, as the room shows it (`web-client/src/lib/color.ts`: `nameColor`,
//! `authorTint`), so the report colours a person's lines as their cursor and text were coloured live.
//! The same arithmetic in the same order: FNV-1a over the UTF-16 code units of the trimmed, lowercased
//! name picks hue, saturation and lightness; lightness drops until white text has WCAG AA contrast.

/// White label text needs this contrast against a person's colour.
const MIN_CONTRAST_WITH_WHITE: f64 = 4.6;
/// How much of a person's colour tints their lines on the report's white page.
const TINT_SHARE: f64 = 0.24;

/// A person's colour, `#rrggbb`.
pub(super) fn name_color(name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for unit in name.trim().to_lowercase().encode_utf16() {
        h ^= u32::from(unit);
        h = h.wrapping_mul(0x0100_0193);
    }
    let hue = f64::from(h % 360);
    let sat = f64::from(60 + ((h >> 9) % 20));
    let mut light = 40 + ((h >> 17) % 8);
    let mut color = hsl_to_hex(hue, sat, f64::from(light));
    while light > 15 && contrast_with_white(&color) < MIN_CONTRAST_WITH_WHITE {
        light -= 1;
        color = hsl_to_hex(hue, sat, f64::from(light));
    }
    color
}

/// The background of lines written by someone of colour `color`.
pub(super) fn tint(color: &str) -> String {
    let out: Vec<String> = [1, 3, 5]
        .iter()
        .map(|&i| {
            let mixed = 255.0 * (1.0 - TINT_SHARE) + f64::from(channel(color, i)) * TINT_SHARE;
            format!("{:02x}", round_half_up(mixed) as u8)
        })
        .collect();
    format!("#{}", out.concat())
}

fn hsl_to_hex(h: f64, s: f64, l: f64) -> String {
    let (sat, lig) = (s / 100.0, l / 100.0);
    let a = sat * lig.min(1.0 - lig);
    let part = |n: f64| {
        let k = (n + h / 30.0) % 12.0;
        let v = lig - a * (-1.0f64).max((k - 3.0).min(9.0 - k).min(1.0));
        format!("{:02x}", round_half_up(v * 255.0) as u8)
    };
    format!("#{}{}{}", part(0.0), part(8.0), part(4.0))
}

/// As JavaScript's `Math.round`: halves go up.
fn round_half_up(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn channel(hex: &str, at: usize) -> u8 {
    hex.get(at..at + 2).and_then(|c| u8::from_str_radix(c, 16).ok()).unwrap_or(0)
}

fn contrast_with_white(hex: &str) -> f64 {
    let lin = |i: usize| {
        let c = f64::from(channel(hex, i)) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let lum = 0.2126 * lin(1) + 0.7152 * lin(3) + 0.0722 * lin(5);
    1.05 / (lum + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `nameColor` and `authorTint(…, 'light')` give in the browser (web-client's
    /// color.test.ts pins the same ones).
    #[test]
    fn colours_match_the_rooms() {
        for (name, color, tinted) in [
            ("Ada Lovelace", "#7d28af", "#e0cbec"),
            ("Grace Hopper", "#84751f", "#e1dec9"),
            ("  ÉMILE ", "#18817c", "#c8e1e0"),
            ("Cand Idate", "#af2364", "#eccada"),
        ] {
            assert_eq!((name_color(name).as_str(), tint(color).as_str()), (color, tinted), "{name}");
        }
    }

    #[test]
    fn every_colour_carries_white_text() {
        for name in ["a", "b", "yellow", "Zoë", "李雷", ""] {
            assert!(contrast_with_white(&name_color(name)) >= MIN_CONTRAST_WITH_WHITE, "{name}");
        }
    }
}
