'use client';
import { useRouter } from 'next/navigation';
import { ChangeOwnPassword } from '../../../components/change-password';
import { PageHeader } from '../../../components/ui';

/** Where the app shell sends a user whose admin asks for a new password, before any other page. */
export default function ChooseNewPasswordPage() {
  const router = useRouter();
  return (
    <div className="mx-auto max-w-md">
      <PageHeader title="Choose a new password" />
      <p className="mb-4 text-sm text-slate-600">
        An admin asked you to choose your own password before you go on. Enter the one you were given, then a new one only you know.
      </p>
      <ChangeOwnPassword title="New password" onChanged={() => router.replace('/')} />
    </div>
  );
}
