package studio

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twilio/twilio-go"
	studiov2 "github.com/twilio/twilio-go/rest/studio/v2"
)

// StatusPublished is the status every deployed flow gets: a draft does not answer calls.
const StatusPublished = "published"

// FlowInfo is what deployment needs to know of a flow. Studio lists flows without their
// definition; the commit message carries the definition's fingerprint instead (CommitMessage).
type FlowInfo struct {
	SID           string `json:"sid"`
	FriendlyName  string `json:"friendly_name"`
	Status        string `json:"status"`
	CommitMessage string `json:"commit_message"`
	Revision      int    `json:"revision"`
	// WebhookURL is where a phone number's VoiceUrl must point to run the flow.
	WebhookURL string `json:"webhook_url"`
}

// FlowAPI is the part of Studio's REST API that deployment uses.
type FlowAPI interface {
	ListFlows(ctx context.Context) ([]FlowInfo, error)
	CreateFlow(ctx context.Context, name string, def json.RawMessage, commitMessage string) (FlowInfo, error)
	UpdateFlow(ctx context.Context, sid, name string, def json.RawMessage, commitMessage string) (FlowInfo, error)
	DeleteFlow(ctx context.Context, sid string) error
}

// FlowUpToDate reports whether a deployed flow already is def, published.
func FlowUpToDate(f FlowInfo, def json.RawMessage) bool {
	return f.Status == StatusPublished && f.CommitMessage == CommitMessage(def)
}

// Deploy creates the flow called name, or updates the one that exists, to def, published. It
// writes nothing when the published flow already is def. Two flows with the name are an error:
// which one the number should use is not Deploy's guess to make.
func Deploy(ctx context.Context, api FlowAPI, name string, def json.RawMessage) (FlowInfo, bool, error) {
	flows, err := api.ListFlows(ctx)
	if err != nil {
		return FlowInfo{}, false, fmt.Errorf("list flows: %w", err)
	}
	var found []FlowInfo
	for _, f := range flows {
		if f.FriendlyName == name {
			found = append(found, f)
		}
	}
	msg := CommitMessage(def)
	switch len(found) {
	case 0:
		f, err := api.CreateFlow(ctx, name, def, msg)
		if err != nil {
			return FlowInfo{}, false, fmt.Errorf("create flow %q: %w", name, err)
		}
		return f, true, nil
	case 1:
		if FlowUpToDate(found[0], def) {
			return found[0], false, nil
		}
		f, err := api.UpdateFlow(ctx, found[0].SID, name, def, msg)
		if err != nil {
			return FlowInfo{}, false, fmt.Errorf("update flow %q (%s): %w", name, found[0].SID, err)
		}
		return f, true, nil
	default:
		return FlowInfo{}, false, fmt.Errorf("flow %q: %d flows have this name (%s, %s…): delete the extra ones", name, len(found), found[0].SID, found[1].SID)
	}
}

// TwilioFlows is FlowAPI on twilio-go's StudioV2.
type TwilioFlows struct {
	rc *twilio.RestClient
}

var _ FlowAPI = (*TwilioFlows)(nil)

// NewTwilioFlows wraps a twilio-go client.
func NewTwilioFlows(rc *twilio.RestClient) *TwilioFlows { return &TwilioFlows{rc: rc} }

// ListFlows lists every flow of the account (Studio cannot filter by name).
func (t *TwilioFlows) ListFlows(ctx context.Context) ([]FlowInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flows, err := t.rc.StudioV2.ListFlow(&studiov2.ListFlowParams{})
	if err != nil {
		return nil, err
	}
	out := make([]FlowInfo, 0, len(flows))
	for _, f := range flows {
		out = append(out, flowInfo(&f))
	}
	return out, nil
}

// CreateFlow creates a published flow.
func (t *TwilioFlows) CreateFlow(ctx context.Context, name string, def json.RawMessage, commitMessage string) (FlowInfo, error) {
	if err := ctx.Err(); err != nil {
		return FlowInfo{}, err
	}
	params := &studiov2.CreateFlowParams{}
	// SetDefinition JSON-encodes its argument: a RawMessage goes out as the object itself.
	params.SetFriendlyName(name).SetStatus(StatusPublished).SetDefinition(def).SetCommitMessage(commitMessage)
	f, err := t.rc.StudioV2.CreateFlow(params)
	if err != nil {
		return FlowInfo{}, err
	}
	return flowInfo(f), nil
}

// UpdateFlow replaces a flow's definition and publishes it.
func (t *TwilioFlows) UpdateFlow(ctx context.Context, sid, name string, def json.RawMessage, commitMessage string) (FlowInfo, error) {
	if err := ctx.Err(); err != nil {
		return FlowInfo{}, err
	}
	params := &studiov2.UpdateFlowParams{}
	params.SetFriendlyName(name).SetStatus(StatusPublished).SetDefinition(def).SetCommitMessage(commitMessage)
	f, err := t.rc.StudioV2.UpdateFlow(sid, params)
	if err != nil {
		return FlowInfo{}, err
	}
	return flowInfo(f), nil
}

// DeleteFlow deletes a flow.
func (t *TwilioFlows) DeleteFlow(ctx context.Context, sid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.rc.StudioV2.DeleteFlow(sid)
}

func flowInfo(f *studiov2.StudioV2Flow) FlowInfo {
	return FlowInfo{
		SID:           deref(f.Sid),
		FriendlyName:  deref(f.FriendlyName),
		Status:        deref(f.Status),
		CommitMessage: deref(f.CommitMessage),
		Revision:      f.Revision,
		WebhookURL:    deref(f.WebhookUrl),
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
