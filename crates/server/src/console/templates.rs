//! The console's templates and static assets, embedded in the binary (no CDN: works offline).

use minijinja::{Environment, Value};

pub struct Templates {
    env: Environment<'static>,
}

/// Templates by name, read at compile time from `crates/server/templates/`.
macro_rules! embedded_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = embedded_templates!(
    "layout.html",
    "auth_layout.html",
    "login.html",
    "login_two_factor.html",
    "signup.html",
    "overview.html",
    "settings.html",
    "subscriptions.html",
    "new_org.html",
    "projects.html",
    "project.html",
    "spend_limit_card.html",
    "api_keys.html",
    "error.html",
    "members.html",
    "audit_log.html",
    "invite.html",
    "billing.html",
    "billing_tabs.html",
    "usage.html",
    "project_usage.html",
    "overview_billing.html",
    "overview_steps.html",
    "api_key_usage_head.html",
    "api_key_usage_cells.html",
    "requests.html",
    "confirm_charge.html",
    "project_gateway.html",
    "limits.html",
    "playground.html",
    "account.html",
    "forgot_password.html",
    "reset_password.html",
);

/// Static assets: (path under `/assets/`, content type, bytes).
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "playground.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/playground.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/favicon.svg"),
    ),
];

impl Templates {
    /// Parses every template; a syntax error fails start-up rather than a page.
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        // A key the context does not have fails the page in debug builds, so that a misspelt
        // key fails a test instead of rendering blank; release builds render it empty rather
        // than answer 500 on a branch no test reached. `{% if x %}` on a missing key is allowed
        // in both (SemiStrict). Decision 0010.
        env.set_undefined_behavior(if cfg!(debug_assertions) {
            minijinja::UndefinedBehavior::SemiStrict
        } else {
            minijinja::UndefinedBehavior::Lenient
        });
        // `{{ n|thousands }}`: a big count with thousands separators (`numbers::count`); none
        // (or, in a release build, a missing key) renders empty rather than failing the page.
        env.add_filter("thousands", |n: Option<i128>| {
            n.map(super::numbers::count).unwrap_or_default()
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let t = Templates::load().unwrap();
        for (name, _) in TEMPLATES {
            assert!(t.env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_missing_key_fails_the_page_and_a_test_of_it_does_not() {
        let t = Templates::load().unwrap();
        assert!(t.env.render_str("{{ misspelt }}", ()).is_err());
        assert!(t
            .env
            .render_str(
                "{{ user.misspelt }}",
                minijinja::context! { user => minijinja::context! {} }
            )
            .is_err());
        assert_eq!(
            t.env
                .render_str("{% if missing %}x{% endif %}{{ missing or 'y' }}", ())
                .unwrap(),
            "y"
        );
    }

    #[test]
    fn big_counts_have_thousands_separators() {
        let t = Templates::load().unwrap();
        let render = |n: minijinja::Value| {
            t.env
                .render_str("{{ n|thousands }}", minijinja::context! { n })
                .unwrap()
        };
        assert_eq!(render(20_000_000u64.into()), "20,000,000");
        assert_eq!(render(u64::MAX.into()), "18,446,744,073,709,551,615");
        assert_eq!(render(600.into()), "600");
        assert_eq!(render(minijinja::Value::from(())), "");
        // The built-in `count` (a list's length) is not shadowed.
        assert_eq!(t.env.render_str("{{ [1, 2]|count }}", ()).unwrap(), "2");
    }
}
