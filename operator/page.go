package operator

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html"
	"strings"
)

// The page is one HTML document with its CSS and JavaScript inline, so it needs no other route
// and nothing from the internet. The Content-Security-Policy allows exactly those two blocks
// (by hash), connections to this origin (the stream), and forms posting here.
//
//go:embed page.html login.html page.css page.js
var assets embed.FS

var (
	pageCSS    = mustAsset("page.css")
	pageJS     = mustAsset("page.js")
	pageHTML   = strings.Replace(strings.Replace(mustAsset("page.html"), "{{STYLE}}", pageCSS, 1), "{{SCRIPT}}", pageJS, 1)
	loginHTML  = strings.Replace(mustAsset("login.html"), "{{STYLE}}", pageCSS, 1)
	logoutForm = `<form method="post" action="operator/logout"><button type="submit">Log out</button></form>`
	pageCSP    = "default-src 'none'; style-src '" + hash(pageCSS) + "'; script-src '" + hash(pageJS) +
		"'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// operatorPage is the page, with a log-out button when a token logs people in.
func operatorPage(withLogout bool) []byte {
	form := ""
	if withLogout {
		form = logoutForm
	}
	return []byte(strings.Replace(pageHTML, "{{LOGOUT}}", form, 1))
}

// loginPage is what a 401 shows a browser: a form for the token (or, with no token configured,
// why the page is closed), and message, if any. It holds no state of the bridge.
func loginPage(tokenConfigured bool, message string) []byte {
	body := `<p>This page is for operators. Log in with the operator token (<code>OPERATOR_TOKEN</code>).</p>
<form method="post" action="operator/login">
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>`
	if !tokenConfigured {
		body = `<p>This page opens only from this machine (sandbox mode), or with an operator token: set <code>OPERATOR_TOKEN</code>.</p>`
	}
	if message != "" {
		body = `<p class="error" role="alert">` + html.EscapeString(message) + `</p>` + body
	}
	return []byte(strings.Replace(loginHTML, "{{BODY}}", body, 1))
}
