package slack_test

import (
	"encoding/json"

	"github.com/slack-go/slack"
)

func jsonRoundTrip(blocks []slack.Block) ([]map[string]any, error) {
	b, err := json.Marshal(blocks)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	err = json.Unmarshal(b, &out)
	return out, err
}
