package testkit

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// codes are the Twilio error codes and messages the fake answers by default, by HTTP status.
var codes = map[int]int{400: 20001, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 409: 20409,
	429: 20429, 500: 20500, 502: 20502, 503: 20503, 504: 20504}

var messages = map[int]string{
	20001: "Invalid parameter", 20003: "Authenticate", 20404: "The requested resource was not found",
	20429: "Too Many Requests", 20500: "Internal Server Error", 20503: "Service Unavailable",
	21210: "The source phone number provided, +15005550199, is not yet verified for your account",
	21211: "Invalid 'To' Phone Number",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a Twilio error body: {"code","message","more_info","status"}, the last
// left out when withStatus is false (a gateway's).
func writeError(w http.ResponseWriter, status, code int, msg string, withStatus bool) {
	body := map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)}
	if withStatus {
		body["status"] = status
	}
	writeJSON(w, status, body)
}

// writeFault answers the fault's error: a JSON body, or an HTML page.
func writeFault(w http.ResponseWriter, f Fault) {
	if f.HTML {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n",
			f.Status, http.StatusText(f.Status), f.Status, http.StatusText(f.Status))
		return
	}
	code := f.Code
	if code == 0 {
		code = codes[f.Status]
	}
	if code == 0 {
		code = 20000 + f.Status
	}
	msg := f.Message
	if msg == "" {
		msg = messages[code]
	}
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	writeError(w, f.Status, code, msg, !f.NoStatusField)
}
