//! How flags, environment, file and defaults combine.

use super::*;

#[test]
fn defaults_follow_design() {
    let c = Config::load(&GlobalArgs::default()).unwrap();
    assert_eq!(c.database_url, "sqlite:./data/tollgate.db");
    assert_eq!(c.listen(None), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let dir = std::env::temp_dir().join(format!("tollgate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tollgate.toml");
    std::fs::write(
        &path,
        "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/tg\"\nsession_idle_hours = 2\n",
    )
    .unwrap();
    let args = GlobalArgs {
        config: Some(path.clone()),
        data_dir: None,
        database_url: Some("postgres://u@h/db".into()),
        catalog: None,
    };
    let c = Config::load(&args).unwrap();
    assert_eq!(c.database_url, "postgres://u@h/db");
    assert_eq!(c.data_dir, PathBuf::from("/srv/tg"));
    assert_eq!(c.listen(None), "0.0.0.0:9000");
    assert_eq!(c.listen(Some("127.0.0.1:0")), "127.0.0.1:0");
    assert_eq!(c.server().unwrap().session_idle, Duration::from_secs(7200));
    assert_eq!(c.catalog, None);

    std::fs::write(&path, "catalog = \"/etc/tollgate/models.toml\"\n").unwrap();
    let c = Config::load(&args).unwrap();
    assert_eq!(c.catalog, Some(PathBuf::from("/etc/tollgate/models.toml")));
    let flagged = GlobalArgs {
        catalog: Some("flag.toml".into()),
        config: Some(path.clone()),
        ..GlobalArgs::default()
    };
    let c = Config::load(&flagged).unwrap();
    assert_eq!(
        c.server().unwrap().catalog_path,
        Some(PathBuf::from("flag.toml"))
    );

    std::fs::write(&path, "listne = \"typo\"\n").unwrap();
    let err = Config::load(&args).unwrap_err();
    assert!(format!("{err:#}").contains("listne"), "{err:#}");
    std::fs::remove_dir_all(dir).ok();
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn config_with(toml_text: &str) -> Config {
    Config {
        file: toml::from_str(toml_text).unwrap(),
        data_dir: PathBuf::from("/srv/tg"),
        database_url: "sqlite:/srv/tg/tollgate.db".into(),
        catalog: None,
    }
}

#[test]
fn email_defaults_to_files_in_the_data_dir() {
    let email = config_with("").email(env_of(&[])).unwrap();
    assert_eq!(email.from, "Tollgate <no-reply@localhost>");
    match email.transport {
        TransportConfig::File { dir } => assert_eq!(dir, PathBuf::from("/srv/tg/outbox")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn smtp_comes_from_the_file_and_the_environment_beats_it() {
    let c = config_with(
        "smtp_host = \"mail.example.com\"\nsmtp_security = \"tls\"\n\
         smtp_username = \"tollgate\"\nsmtp_password = \"from-file\"\n\
         email_from = \"Acme <billing@acme.example>\"\n",
    );
    let email = c.email(env_of(&[])).unwrap();
    assert_eq!(email.from, "Acme <billing@acme.example>");
    let TransportConfig::Smtp(smtp) = email.transport else {
        panic!("an smtp_host selects smtp");
    };
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 465));
    assert_eq!(smtp.security, SmtpSecurity::Tls);
    assert_eq!(smtp.username.as_deref(), Some("tollgate"));
    assert_eq!(smtp.password.as_deref(), Some("from-file"));

    let email = c
        .email(env_of(&[
            ("TOLLGATE_SMTP_HOST", "relay.internal"),
            ("TOLLGATE_SMTP_PORT", "2525"),
            ("TOLLGATE_SMTP_SECURITY", "none"),
            ("TOLLGATE_SMTP_PASSWORD", "from-env"),
        ]))
        .unwrap();
    let TransportConfig::Smtp(smtp) = email.transport else {
        panic!("smtp");
    };
    assert_eq!((smtp.host.as_str(), smtp.port), ("relay.internal", 2525));
    assert_eq!(smtp.security, SmtpSecurity::None);
    assert_eq!(smtp.password.as_deref(), Some("from-env"));

    let forced = c
        .email(env_of(&[("TOLLGATE_EMAIL_TRANSPORT", "file")]))
        .unwrap();
    assert!(matches!(forced.transport, TransportConfig::File { .. }));
}

#[test]
fn bad_email_settings_are_refused() {
    assert!(config_with("email_transport = \"smtp\"\n")
        .email(env_of(&[]))
        .is_err());
    assert!(toml::from_str::<FileConfig>("email_transport = \"pigeon\"\n").is_err());
    for (var, value) in [
        ("TOLLGATE_EMAIL_TRANSPORT", "pigeon"),
        ("TOLLGATE_SMTP_SECURITY", "ssl"),
        ("TOLLGATE_SMTP_PORT", "99999"),
    ] {
        let env = env_of(&[(var, value), ("TOLLGATE_SMTP_HOST", "h")]);
        assert!(config_with("").email(env).is_err(), "{var}={value}");
    }
}

#[test]
fn payments_default_to_the_sandbox() {
    let c = config_with("");
    assert!(matches!(
        c.payments(env_of(&[])).unwrap(),
        PaymentsConfig::Sandbox
    ));
    assert!(matches!(
        c.server().unwrap().payments,
        PaymentsConfig::Sandbox
    ));
}

#[test]
fn stripe_comes_from_the_file_and_the_environment_beats_it() {
    let c = config_with(
        "payment_provider = \"stripe\"\nstripe_secret_key = \"sk_test_file\"\n\
         stripe_publishable_key = \"pk_test_file\"\nstripe_webhook_secret = \"whsec_file\"\n\
         stripe_api_base = \"http://127.0.0.1:12111/\"\nstripe_timeout_secs = 5\n",
    );
    assert!(
        !format!("{:?}", c.file).contains("sk_test_file"),
        "{:?}",
        c.file
    );
    let PaymentsConfig::Stripe(s) = c.payments(env_of(&[])).unwrap() else {
        panic!("stripe");
    };
    assert_eq!(s.secret_key, "sk_test_file");
    assert_eq!(s.publishable_key, "pk_test_file");
    assert_eq!(s.webhook_secret.as_deref(), Some("whsec_file"));
    assert_eq!(s.api_base, "http://127.0.0.1:12111");
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert!(!format!("{s:?}").contains("sk_test_file"));

    let PaymentsConfig::Stripe(s) = c
        .payments(env_of(&[
            ("TOLLGATE_STRIPE_SECRET_KEY", "sk_live_env"),
            ("TOLLGATE_STRIPE_PUBLISHABLE_KEY", "pk_live_env"),
            ("TOLLGATE_STRIPE_WEBHOOK_SECRET", "whsec_env"),
        ]))
        .unwrap()
    else {
        panic!("stripe");
    };
    assert_eq!(
        (s.secret_key.as_str(), s.publishable_key.as_str()),
        ("sk_live_env", "pk_live_env")
    );
    assert_eq!(s.webhook_secret.as_deref(), Some("whsec_env"));
    assert_eq!(s.api_base, "http://127.0.0.1:12111");

    let forced = c
        .payments(env_of(&[("TOLLGATE_PAYMENT_PROVIDER", "sandbox")]))
        .unwrap();
    assert!(matches!(forced, PaymentsConfig::Sandbox));
    let from_env = config_with("")
        .payments(env_of(&[
            ("TOLLGATE_PAYMENT_PROVIDER", "stripe"),
            ("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_x"),
            ("TOLLGATE_STRIPE_PUBLISHABLE_KEY", "pk_test_x"),
        ]))
        .unwrap();
    let PaymentsConfig::Stripe(s) = from_env else {
        panic!("stripe");
    };
    assert_eq!(s.api_base, "https://api.stripe.com");
    assert_eq!(s.webhook_secret, None);
}

#[test]
fn bad_payment_settings_are_refused() {
    assert!(toml::from_str::<FileConfig>("payment_provider = \"paypal\"\n").is_err());
    for toml_text in [
        "payment_provider = \"stripe\"\n",
        "payment_provider = \"stripe\"\nstripe_secret_key = \"sk_test_x\"\n",
        "payment_provider = \"stripe\"\nstripe_secret_key = \"pk_test_x\"\nstripe_publishable_key = \"pk_test_x\"\n",
    ] {
        assert!(config_with(toml_text).payments(env_of(&[])).is_err(), "{toml_text}");
    }
    assert!(config_with("")
        .payments(env_of(&[("TOLLGATE_PAYMENT_PROVIDER", "paypal")]))
        .is_err());
}

#[test]
fn invitation_lifetime_is_bounded() {
    for (days, ok) in [(0, false), (1, true), (30, true), (31, false)] {
        let c = Config {
            file: FileConfig {
                invite_ttl_days: Some(days),
                ..FileConfig::default()
            },
            data_dir: PathBuf::from("."),
            database_url: "sqlite:x".into(),
            catalog: None,
        };
        assert_eq!(c.server().is_ok(), ok, "{days} days");
    }
}

/// Under 8 days, a record pruned could be reported again (up to 7 days late, plus a day to spare
/// around midnight) and be stored and debited a second time.
#[test]
fn usage_retention_keeps_at_least_what_may_be_reported_again() {
    for (days, ok) in [
        (0, false),
        (1, false),
        (7, false),
        (8, true),
        (3650, true),
        (3651, false),
    ] {
        let c = Config {
            file: FileConfig {
                usage_retention_days: Some(days),
                ..FileConfig::default()
            },
            data_dir: PathBuf::from("."),
            database_url: "sqlite:x".into(),
            catalog: None,
        };
        assert_eq!(c.server().is_ok(), ok, "{days} days");
    }
}

#[test]
fn connection_limits_come_from_the_file_and_are_bounded() {
    let c = config_with(
        "header_read_timeout_secs = 3\nbody_read_timeout_secs = 4\nidle_timeout_secs = 2\n\
         max_connections = 50\npassword_hash_concurrency = 3",
    )
    .server()
    .unwrap();
    assert_eq!(c.connections.header_read_timeout, Duration::from_secs(3));
    assert_eq!(c.connections.body_read_timeout, Duration::from_secs(4));
    assert_eq!(c.connections.idle_timeout, Duration::from_secs(2));
    assert_eq!(c.connections.max_connections, 50);
    assert_eq!(c.password_hash_concurrency, 3);
    for bad in [
        "idle_timeout_secs = 0",
        "header_read_timeout_secs = 3601",
        "max_connections = 0",
        "password_hash_concurrency = 0",
    ] {
        assert!(config_with(bad).server().is_err(), "{bad} is refused");
    }
}

#[test]
fn unknown_database_schemes_are_refused() {
    let args = GlobalArgs {
        database_url: Some("mysql://x".into()),
        ..GlobalArgs::default()
    };
    assert!(Config::load(&args).is_err());
}

#[test]
fn purchase_bounds_are_decimal_strings_of_whole_cents() {
    let usd = |raw| Money::parse_usd("x", raw).unwrap();
    let d = config_with("").server().unwrap().billing;
    assert_eq!((d.min_purchase, d.max_purchase), (usd("10"), usd("10000")));
    let c = config_with("min_purchase = \"0.50\"\nmax_purchase = \"2500.25\"\n")
        .server()
        .unwrap()
        .billing;
    assert_eq!(
        (c.min_purchase, c.max_purchase),
        (usd("0.5"), usd("2500.25"))
    );
    for bad in [
        "min_purchase = \"0.49\"",
        "min_purchase = \"10.001\"",
        "max_purchase = \"9.99\"",
        "max_purchase = \"-5\"",
        "max_purchase = \"1e3\"",
    ] {
        assert!(config_with(bad).server().is_err(), "{bad} is refused");
    }
}
