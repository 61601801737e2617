// Twilio's SMS segment calculator as a test oracle for providers/encoding.py.
// stdin: a JSON array of strings; stdout: a JSON array of
// {encoding, segments, characters, non_gsm_characters}, one per string, same order.
const { SegmentedMessage } = require('sms-segments-calculator');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((body) => {
    const m = new SegmentedMessage(body, 'auto', false);
    return {
      encoding: m.encodingName,
      segments: m.segmentsCount,
      characters: m.numberOfCharacters,
      non_gsm_characters: m.getNonGsmCharacters(),
    };
  });
  process.stdout.write(JSON.stringify(results));
});
