//! One way to give an enum its stored and shown text.

/// `as_str`, `FromStr` (a `ValidationError` on `$field` naming the accepted values) and
/// `Display` for an enum whose variants are stored and shown as the given texts, and `ALL`, its
/// values in order.
macro_rules! text_enum {
    ($ty:ident, $field:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: [$ty; [$($text),+].len()] = [$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    $crate::ValidationError::new(
                        $field,
                        format!("'{s}' is not one of {}.", [$($text),+].join(", ")),
                    )
                })
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;
