//! A refused form's context: the values to draw again and the message next to each refused
//! field. Each form has its own struct (its fields are the template's `values.*` /
//! `errors.*` keys); a field the form did not set is absent from the context, as templates
//! test with `{% if errs.name %}` / `v.name is defined`.

/// `form_fields!(pub struct NameValues { name })` makes a struct of optional text fields,
/// each serialized only when set, with `NameValues::of("name", message)` (and `set`) for a service's
/// `ValidationError` (whose `field` names one of them; any other name sets nothing, as a key
/// no template reads showed nothing before).
macro_rules! form_fields {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Serialize)]
        $vis struct $name {
            $(
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<String>,
            )*
        }

        #[allow(dead_code)]
        impl $name {
            /// The form with one field set.
            pub fn of(field: &str, text: impl Into<String>) -> Self {
                let mut fields = Self::default();
                fields.set(field, text);
                fields
            }

            /// Sets field `field`, if the form has one of that name.
            pub fn set(&mut self, field: &str, text: impl Into<String>) {
                match field {
                    $(stringify!($field) => self.$field = Some(text.into()),)*
                    _ => {}
                }
            }
        }
    };
}
pub(crate) use form_fields;

#[cfg(test)]
mod tests {
    form_fields!(struct Probe { name, email });

    #[test]
    fn only_the_fields_set_are_serialized() {
        let json = |p: &Probe| serde_json::to_string(p).unwrap();
        assert_eq!(json(&Probe::default()), "{}");
        assert_eq!(json(&Probe::of("email", "Bad.")), r#"{"email":"Bad."}"#);
        assert_eq!(json(&Probe::of("other", "Bad.")), "{}");
    }
}
