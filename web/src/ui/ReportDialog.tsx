import { useState, type FormEvent } from 'react';
import type { Message } from '../sdk/types';
import { errorText } from './AuthScreen';
import { Modal } from './Modal';

export const REPORT_REASONS = ['Spam', 'Harassment or bullying', 'Hate speech', 'Violence or threats', 'Sexual content', 'Something else'];

/**
 * Reports a message to the moderators with a reason (POST …/messages/{id}/report).
 * The quoted text is shown as plain text, like every message body.
 */
export function ReportDialog({
  message,
  senderName,
  onReport,
  onClose,
}: {
  message: Message;
  senderName: string;
  onReport: (reason: string) => Promise<unknown>;
  onClose: () => void;
}) {
  const [reason, setReason] = useState(REPORT_REASONS[0]!);
  const [details, setDetails] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const text = details.trim();
    try {
      await onReport(text ? `${reason}: ${text}` : reason);
      setDone(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Report message" onClose={onClose} testId="report-dialog">
      {done ? (
        <>
          <p role="status" className="form-ok" data-testid="report-done">
            Thank you. The moderators will look at this message.
          </p>
          <div className="dialog-actions">
            <button type="button" className="primary" onClick={onClose} data-testid="report-close">
              Close
            </button>
          </div>
        </>
      ) : (
        <form onSubmit={submit} className="settings-form">
          <blockquote className="report-quote" data-testid="report-quote">
            <span className="quote-sender">{senderName}</span>
            <span className="quote-text">{message.body}</span>
          </blockquote>
          <label>
            Reason
            <select value={reason} onChange={(e) => setReason(e.target.value)} data-testid="report-reason">
              {REPORT_REASONS.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <label>
            Details (optional)
            <textarea value={details} onChange={(e) => setDetails(e.target.value)} maxLength={1000} rows={3} data-testid="report-details" />
          </label>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="danger" disabled={busy} data-testid="report-submit">
              Report
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
