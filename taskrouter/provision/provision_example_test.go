package provision_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"queuebridge/taskrouter"
	"queuebridge/taskrouter/provision"
)

// How the bridge's sandbox mode provisions the sandbox: the example spec, applied through a
// twilio-go client whose transport sends every request to the sandbox.
func ExampleProvisioner_ApplySpec() {
	var sandboxTransport http.RoundTripper // rewrites scheme and host to the sandbox's, keeps the path
	c := &client.Client{
		Credentials: client.NewCredentials("AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
		HTTPClient:  &http.Client{Transport: sandboxTransport, Timeout: 10 * time.Second},
	}
	c.SetAccountSid("AC0123456789abcdef0123456789abcdef")
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})

	spec, err := provision.LoadSpec(provision.ExampleSpec)
	if err != nil {
		log.Fatal(err)
	}
	prov := provision.NewProvisioner(provision.NewTwilioProvisionAPI(rc), provision.SpecSettings{
		PublicBaseURL: "http://127.0.0.1:8080", // the bridge, as the sandbox reaches it
		RingTimeout:   taskrouter.DefaultRingTimeout,
		AMDTimeout:    taskrouter.DefaultAMDTimeout,
	})
	done, err := prov.ApplySpec(context.Background(), spec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.Outputs.WorkspaceSID, done.Outputs.WorkflowSID, done.Outputs.Activities["Missed Call"])
}
