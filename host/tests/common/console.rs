//! The console over plain HTTP, without a browser: logging in and its
//! cookies.

use reqwest::blocking::Client as Http;
use reqwest::header::{COOKIE, SET_COOKIE};

pub fn http() -> Http {
    Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The value of cookie `name` among `resp`'s `Set-Cookie`, and the whole header.
pub fn set_cookie(resp: &reqwest::blocking::Response, name: &str) -> Option<(String, String)> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let value = v.strip_prefix(&format!("{name}="))?.split(';').next()?;
        Some((value.to_string(), v.to_string()))
    })
}

pub fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

/// Logs in with `token`: the session cookie's value.
pub fn log_in_as(url: &str, token: &str) -> String {
    let page = http().get(format!("{url}/ui/login")).send().unwrap();
    let (login, _) = set_cookie(&page, "synchost_login").expect("a login cookie");
    let csrf = hidden_csrf(&page.text().unwrap());
    let resp = http()
        .post(format!("{url}/ui/login"))
        .header(COOKIE, format!("synchost_login={login}"))
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303, "logging in");
    set_cookie(&resp, "synchost_session")
        .expect("a session cookie")
        .0
}
