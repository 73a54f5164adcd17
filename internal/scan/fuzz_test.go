package scan

import (
	"bytes"
	"encoding/csv"
	"testing"
)

const fuzzHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

// FuzzCredentialReport feeds the credential report parser arbitrary reports (IAM data: user names
// and dates come from outside). It never panics, and every user it returns is named on a line of
// the report that the CSV reader could split, never made up from a damaged line.
func FuzzCredentialReport(f *testing.F) {
	for _, s := range []string{
		fuzzHeader + "<root_account>,arn:aws:iam::111111111111:root,2026-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
			"alice,arn:aws:iam::111111111111:user/alice,2026-01-01T00:00:00+00:00,true,no_information,2026-02-01T00:00:00+00:00,N/A,false,true,2026-01-01T00:00:00+00:00,2026-11-20T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
		fuzzHeader + "\"svc,batch\",arn,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-13-01,N/A,N/A,N/A,true\n",
		fuzzHeader + "bob\n\"unterminated\n",
		"user\n", "", "user,user_creation_time,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_2_active\nx,,,,,\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		rows, err := parseReport(content)
		if err != nil {
			return
		}
		named := map[string]bool{}
		r := csv.NewReader(bytes.NewReader(content))
		r.FieldsPerRecord = -1
		for {
			rec, err := r.Read()
			if err != nil {
				if err.Error() == "EOF" {
					break
				}
				continue
			}
			for _, v := range rec {
				named[v] = true
			}
		}
		for name := range rows {
			if !named[name] {
				t.Fatalf("user %q is in no line of the report", name)
			}
		}
	})
}
